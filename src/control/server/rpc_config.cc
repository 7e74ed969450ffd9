// getAllConfigInfo: every process's configuration as supervisord reports it, read from the
// one table of keys (config/keys.h), plus the program's place in its group.
#include <algorithm>
#include <type_traits>

#include "config/keys.h"
#include "control/server/rpc_methods.h"

namespace podvisor::control::rpc_methods {

void get_all_config_info(Backend& b, const Array&, Reply& reply) {
  auto infos = b.config_info();
  std::stable_sort(infos.begin(), infos.end(), [](const ConfigInfo& x, const ConfigInfo& y) {
    return x.spec.name < y.spec.name;
  });
  auto encode = [](config::InfoValue v) {
    return std::visit(
        [](auto& x) {
          if constexpr (std::is_same_v<std::decay_t<decltype(x)>, std::vector<int>>) {
            return Value(Array(x.begin(), x.end()));
          } else {
            return Value(std::move(x));
          }
        },
        v);
  };
  Array out;
  for (const auto& c : infos) {
    Struct info{
        {"name", Value(c.spec.name)},
        {"group", Value(c.spec.group)},
        {"group_prio", Value(c.group_priority)},
        {"inuse", Value(c.in_use)},
    };
    for (const auto& key : config::all_keys()) {
      if (key.info) info.emplace(key.info_name, encode(key.info(c.spec)));
    }
    out.emplace_back(std::move(info));
  }
  reply(Value(std::move(out)));
}

}  // namespace podvisor::control::rpc_methods
