// The core's error type is the public one (api/include/switchyard/error.hpp): exceptions inside the C++ core and
// through the embedding API; statuses at the C plugin boundary (sdk/include/switchyard/plugin.h).
#pragma once

#include <switchyard/error.hpp>
