"""The HTTP front end: routes, schemas, input parsing and error mapping."""
