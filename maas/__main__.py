from maas.cli.app import app

app()
