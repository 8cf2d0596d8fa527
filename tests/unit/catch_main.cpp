// Catch2 main for the unit tier (the implementation is support/catch_impl.cpp).
#include "support/catch_impl.h"

int main(int argc, char** argv) { return rampart::testing::run_catch(argc, argv); }
