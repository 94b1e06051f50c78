// Renders a placement plan for people (text, with a memory bar per device) and for programs (JSON, schema
// "switchyard.plan/1", documented in docs/cli-json.md).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/placement/planner.h"

namespace sy::placement {

// `unicode` false: ASCII only ("->" for the arrow), for a terminal whose locale is not UTF-8. Device lines fit 80
// columns; a legend explains the bars.
std::string plan_to_text(const Plan& plan, bool every_tensor = false, bool unicode = true);
nlohmann::ordered_json plan_to_json(const Plan& plan);

}  // namespace sy::placement
