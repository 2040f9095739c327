"""inference.GRPCInferenceService, the Open Inference Protocol over gRPC, on the transport-free
data plane (api/services/inference.py) that /v2 uses too: an inference is a job in the version's
lane, batched with /v1 jobs and /v2 requests. Messages: api/rpc/stubs/grpc_predict_v2.proto."""

import grpc

from api.oip_types import datatype_of
from api.rpc.calls import Calls, traceparent_of
from api.rpc.stubs import grpc_predict_v2_pb2 as pb
from api.rpc.stubs import grpc_predict_v2_pb2_grpc as pb_grpc
from api.rpc.tensors import decode_infer_inputs, fill_contents, little_endian_bytes
from api.services.inference import InferenceService, InferResult
from maas.core.access import Caller, Scope

RAW_OUTPUT_PARAMETER = "binary_data_output"  # typed-contents requests may still ask for raw outputs


def parameters_of(parameters) -> dict:
    """A map<string, InferParameter> as plain values."""
    return {
        key: getattr(value, value.WhichOneof("parameter_choice") or "string_param")
        for key, value in parameters.items()
    }


def infer_response(result: InferResult, raw: bool) -> pb.ModelInferResponse:
    """The outputs as raw bytes (raw: the request sent raw inputs or asked for them; FP16 always)
    or as typed contents; the job id and the size of the batch it ran in as parameters."""
    response = pb.ModelInferResponse(
        model_name=result.model_name, model_version=result.model_version, id=result.request_id or ""
    )
    response.parameters["maas_job_id"].string_param = result.job_id
    if result.batch_size is not None:
        response.parameters["batch_size"].int64_param = result.batch_size
    raw = raw or any(a.dtype.kind == "f" and a.dtype.itemsize == 2 for a in result.outputs.values())
    for name, array in result.outputs.items():
        tensor = response.outputs.add(name=name, datatype=datatype_of(array.dtype), shape=array.shape)
        if raw:
            response.raw_output_contents.append(little_endian_bytes(array))
        else:
            fill_contents(tensor.contents, array)
    return response


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    def __init__(self, inference: InferenceService, calls: Calls):
        self.inference, self.calls = inference, calls

    async def ServerLive(self, request, context: grpc.aio.ServicerContext) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context: grpc.aio.ServicerContext) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=await self.inference.server_ready())

    async def ServerMetadata(self, request, context: grpc.aio.ServicerContext) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(**self.inference.server_metadata())

    async def ModelReady(self, request: pb.ModelReadyRequest, context) -> pb.ModelReadyResponse:
        async def ready(caller: Caller) -> pb.ModelReadyResponse:
            return pb.ModelReadyResponse(
                ready=await self.inference.model_ready(caller, request.name, request.version)
            )

        return await self.calls.run(context, Scope.MODELS_READ, ready)

    async def ModelMetadata(self, request: pb.ModelMetadataRequest, context) -> pb.ModelMetadataResponse:
        async def metadata(caller: Caller) -> pb.ModelMetadataResponse:
            found = await self.inference.model_metadata(caller, request.name, request.version)
            return pb.ModelMetadataResponse(
                name=found["name"],
                versions=found["versions"],
                platform=found["platform"],
                inputs=[pb.ModelMetadataResponse.TensorMetadata(**t) for t in found["inputs"]],
                outputs=[pb.ModelMetadataResponse.TensorMetadata(**t) for t in found["outputs"]],
            )

        return await self.calls.run(context, Scope.MODELS_READ, metadata)

    async def ModelInfer(self, request: pb.ModelInferRequest, context) -> pb.ModelInferResponse:
        async def infer(caller: Caller) -> pb.ModelInferResponse:
            parameters = parameters_of(request.parameters)
            result = await self.inference.infer(
                caller,
                request.model_name,
                request.model_version,
                request.id or None,
                decode_infer_inputs(request.inputs, request.raw_input_contents),
                [o.name for o in request.outputs],
                parameters,
                context.time_remaining(),
                traceparent_of(context),
            )
            raw = bool(request.raw_input_contents) or parameters.get(RAW_OUTPUT_PARAMETER) is True
            return infer_response(result, raw)

        return await self.calls.run(context, Scope.JOBS_WRITE, infer)
