#pragma once

#include <pthread.h>

#include <string>
#include <string_view>

namespace cdc {

// Names the calling thread, so that `top -H`, `ps -L` and
// /proc/PID/task/*/comm tell cdc-sentinel's threads apart (Linux keeps the
// first 15 characters). Thread-safe.
inline void NameThisThread(std::string_view name) {
  const std::string n(name.substr(0, 15));
  pthread_setname_np(pthread_self(), n.c_str());
}

}  // namespace cdc
