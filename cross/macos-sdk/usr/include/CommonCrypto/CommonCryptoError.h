// Stand-in for the macOS SDK header of the same name, declaring only what mimalloc uses (its random
// source on macOS ≥ 10.15), so that a darwin build compiles on Linux (scripts/build-all.js). The
// symbol itself comes from libSystem on the Mac; macOS runners build with the real SDK.
#pragma once
#include <stdint.h>
typedef int32_t CCStatus;
typedef int32_t CCCryptorStatus;
enum { kCCSuccess = 0 };
