#include "actors/base/error.hpp"

#include <caf/actor_system_config.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace cdc {

const char* to_string(ec code) {
  switch (code) {
  case ec::none:
    return "none";
  case ec::invalid_argument:
    return "invalid_argument";
  case ec::task_not_found:
    return "task_not_found";
  case ec::invalid_transition:
    return "invalid_transition";
  case ec::target_unreachable:
    return "target_unreachable";
  case ec::storage_failure:
    return "storage_failure";
  case ec::target_refused:
    return "target_refused";
  case ec::undecodable_record:
    return "undecodable_record";
  case ec::unsupported_format:
    return "unsupported_format";
  case ec::internal:
    return "internal";
  case ec::unavailable:
    return "unavailable";
  }
  return "unknown";
}

bool retryable(const caf::error& err) {
  return code_of(err) == ec::unavailable;
}

caf::error make_error(ec code, std::string message) {
  return caf::error{static_cast<uint8_t>(code), ec_category, caf::make_message(std::move(message))};
}

ec code_of(const caf::error& err) {
  if (!err)
    return ec::none;
  if (err.category() != ec_category)
    return ec::internal;
  return static_cast<ec>(err.code());
}

std::string message_of(const caf::error& err) {
  if (err.category() == ec_category && err.context().match_elements<std::string>())
    return err.context().get_as<std::string>(0);
  if (err.category() == caf::atom("system"))
    return "internal error: " + caf::to_string(static_cast<caf::sec>(err.code()));
  return "internal error: " + caf::to_string(err);
}

std::string render_error(uint8_t code, caf::atom_value, const caf::message& context) {
  std::string result = to_string(static_cast<ec>(code));
  if (context.match_elements<std::string>())
    result += ": " + context.get_as<std::string>(0);
  return result;
}

} // namespace cdc
