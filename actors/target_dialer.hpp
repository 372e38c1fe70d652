#pragma once

#include "actors/actors.hpp"

#include <functional>
#include <string>

namespace cdc {

/// Checks a target; returns an empty string when it answered, else what went wrong.
using target_check = std::function<std::string(const target_params&)>;

/// Dials targets without blocking the scheduler: every dial runs in a detached actor of its
/// own, so a slow target never delays another create.
target_dialer_actor::behavior_type target_dialer(target_dialer_actor::pointer self,
                                                 target_check check);

} // namespace cdc
