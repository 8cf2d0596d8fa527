#!/usr/bin/python3
# A second client of the rampart.v1 API, written against the proto with
# Python's grpcio (Debian's python3-grpcio): status, validation errors with
# line and column, a live exec stream, and gRPC server reflection.
# usage: python_client.py GENERATED_PYTHON_DIR SOCKET
import json
import subprocess
import sys

import grpc

sys.path.insert(0, sys.argv[1])
from rampart.v1 import rampart_pb2 as pb  # noqa: E402

channel = grpc.insecure_channel("unix:" + sys.argv[2])


def method(name, response):
    return channel.unary_unary("/rampart.v1.Rampart/" + name,
                               request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=response.FromString)


status = method("GetStatus", pb.GetStatusResponse)(pb.GetStatusRequest(), timeout=10)
assert status.version, status
assert len(status.capabilities) >= 10, status.capabilities
assert any(m.operation == "network" for m in status.mechanisms)

bad = method("ValidatePolicy", pb.ValidatePolicyResponse)(
    pb.ValidatePolicyRequest(text="apiVersion: rampart.dev/v1\nkind: Nope\n", source="bad.yaml"), timeout=10)
assert not bad.valid and bad.errors, bad
assert bad.errors[0].file == "bad.yaml" and bad.errors[0].line >= 1 and bad.errors[0].column >= 1, bad

stream = channel.unary_stream("/rampart.v1.Rampart/StreamEvents",
                              request_serializer=lambda m: m.SerializeToString(),
                              response_deserializer=pb.StreamEventsResponse.FromString)(
    pb.StreamEventsRequest(types=["exec"]), timeout=15)
stream.initial_metadata()  # subscribed
child = subprocess.Popen(["/bin/true"])
child.wait()
seen = False
for msg in stream:
    if msg.HasField("event") and msg.event.tgid == child.pid:
        assert msg.event.type == "exec"
        assert json.loads(msg.event.json)["type"] == "exec"
        seen = True
        break
stream.cancel()
assert seen, "no exec event for the child"

# Reflection: ServerReflectionRequest{list_services: ""} is field 7, empty.
reflect = channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                request_serializer=lambda b: b, response_deserializer=lambda b: b)
answer = next(reflect(iter([b"\x3a\x00"]), timeout=10))
assert b"rampart.v1.Rampart" in answer, answer
print("python client: ok")
