// Runs the Catch2 session (support/catch_impl.cpp holds the implementation).
#pragma once

namespace rampart::testing {

int run_catch(int argc, char** argv);

}  // namespace rampart::testing
