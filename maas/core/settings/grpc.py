"""gRPC: the Open Inference Protocol's GRPCInferenceService and the job service, served by the
API process beside HTTP (api/rpc/)."""

from pydantic import BaseModel, Field


class GrpcSettings(BaseModel):
    grpc_port: int = Field(
        8001,
        ge=0,
        le=65535,
        description="gRPC port of the API process (OIP inference, jobs, health, reflection), bound "
        "on the API's host; 0 turns gRPC off.",
    )

    grpc_max_message_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        description="Largest gRPC message received or sent, bytes; a bigger request is refused "
        "with RESOURCE_EXHAUSTED before it is read whole, and the server stays up.",
    )

    grpc_watch_interval_s: float = Field(
        0.5,
        gt=0,
        description="WatchJob looks at a job this often for a change that publishes no event "
        "(queued -> running); its end wakes it at once, by the completion event, seconds.",
    )

    grpc_grace_s: float = Field(
        5.0, ge=0, description="On shutdown, calls in flight get this long to finish, seconds."
    )
