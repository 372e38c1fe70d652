#include "wal/decode.hpp"

#include <doctest/doctest.h>

// Decoder tests follow (stub so the build stays green).
