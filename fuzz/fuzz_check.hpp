#pragma once
// What every fuzz target shares: an invariant that must hold, or the run stops with the input
// (libFuzzer saves it as crash-<sha1>). Plain abort(), so it works in any build type.

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                                      \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                     \
        }                                                                                     \
    } while (0)
