// A gRPC stub on a test daemon's API socket, for the tests that need more
// control than rampartctl gives (streams, exact status codes).
#pragma once

#include <memory>

#include "rampart/v1/rampart.grpc.pb.h"
#include "support/rampartd.h"

namespace rampart::testing {

// Started with DaemonOptions::api; receives messages up to 64 MiB.
std::unique_ptr<v1::Rampart::Stub> api_stub(const Daemon& d);

}  // namespace rampart::testing
