// Catch2's implementation, compiled once per build tree: the unit main, the
// kernel tiers' main and the TSan tier link it, so that none of them pays
// the twenty seconds that compiling it costs. The mains call run_catch:
// Catch::Session is declared only where the implementation is compiled.
#define CATCH_CONFIG_RUNNER
#include "support/catch_impl.h"

#include <catch2/catch.hpp>

namespace rampart::testing {

int run_catch(int argc, char** argv) { return Catch::Session().run(argc, argv); }

}  // namespace rampart::testing
