// gRPC stub on a test daemon's socket; see api_client.h.
#include "support/api_client.h"

#include <grpcpp/grpcpp.h>

namespace rampart::testing {

std::unique_ptr<v1::Rampart::Stub> api_stub(const Daemon& d) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  return v1::Rampart::NewStub(
      grpc::CreateCustomChannel("unix:" + d.socket(), grpc::InsecureChannelCredentials(), args));
}

}  // namespace rampart::testing
