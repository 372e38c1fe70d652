#include "actors/target_dialer.hpp"

namespace cdc {

namespace {

/// One dial on a thread of its own; terminates after answering.
target_dialer_actor::behavior_type dial_once(target_dialer_actor::pointer self,
                                             target_check check) {
  return {
      [=](atom::dial, const target_params& params) -> caf::result<void> {
        auto problem = check(params);
        self->quit();
        if (!problem.empty())
          return make_error(ec::target_unreachable, problem);
        return caf::unit;
      },
  };
}

} // namespace

target_dialer_actor::behavior_type target_dialer(target_dialer_actor::pointer self,
                                                 target_check check) {
  return {
      [=](atom::dial, target_params& params) -> caf::result<void> {
        auto worker = self->spawn<caf::detached>(dial_once, check);
        return self->delegate(worker, atom::dial_v, std::move(params));
      },
  };
}

} // namespace cdc
