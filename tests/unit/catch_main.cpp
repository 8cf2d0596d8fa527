// Catch2 main for the unit tier.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
