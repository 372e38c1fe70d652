#include "wal/decode.hpp"

// Implementation follows (stub so the build stays green).
