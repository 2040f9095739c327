"""Traces: the standard OpenTelemetry variables that turn OTLP export on.

These four are read under their OpenTelemetry names (OTEL_*), so a collector set up for any
other service works for maas too; `maas serve` hands them to its children as MAAS_OTEL_*. The
SDK reads the rest of the OTEL_* family itself when export is on (headers, timeout, sampler,
resource attributes, batch sizes), as its documentation says.
"""

from pydantic import AliasChoices, BaseModel, Field


def _otel(name: str) -> AliasChoices:
    # Matched case-insensitively: the field's name (keyword argument, and OTEL_... in the
    # environment) and MAAS_OTEL_..., the name settings_env gives it for `maas serve`'s children.
    return AliasChoices(name, f"maas_{name}")


class TracingSettings(BaseModel):
    otel_exporter_otlp_endpoint: str | None = Field(
        None,
        validation_alias=_otel("otel_exporter_otlp_endpoint"),
        description="OTEL_EXPORTER_OTLP_ENDPOINT: an OTLP/HTTP collector, e.g. http://collector:4318; "
        "spans go to <endpoint>/v1/traces. Unset (and no traces endpoint): tracing is off and costs "
        "nothing.",
    )

    otel_exporter_otlp_traces_endpoint: str | None = Field(
        None,
        validation_alias=_otel("otel_exporter_otlp_traces_endpoint"),
        description="OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: the full URL spans are POSTed to "
        "(OTLP/HTTP protobuf); wins over the endpoint above.",
    )

    otel_traces_exporter: str = Field(
        "otlp",
        validation_alias=_otel("otel_traces_exporter"),
        description="OTEL_TRACES_EXPORTER: `otlp` or `none` (off even with an endpoint).",
    )

    otel_sdk_disabled: bool = Field(
        False,
        validation_alias=_otel("otel_sdk_disabled"),
        description="OTEL_SDK_DISABLED: true turns tracing off.",
    )

    def otlp_traces_url(self) -> str | None:
        """Where spans go, or None: tracing off."""
        if self.otel_sdk_disabled or self.otel_traces_exporter.strip().lower() == "none":
            return None
        if self.otel_exporter_otlp_traces_endpoint:
            return self.otel_exporter_otlp_traces_endpoint
        if self.otel_exporter_otlp_endpoint:
            return self.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        return None
