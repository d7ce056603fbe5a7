#pragma once

#include <string>

#include "exporter/app.h"

namespace cdc {

// The status of every connector and probe as JSON (GET /api/v1/status).
std::string StatusJson(App& app);

// The same as a self-contained HTML page (GET / and /status): one row per
// connector with the verdict, coloured, reloading itself every
// `refresh_seconds`; no external assets.
std::string StatusHtml(App& app, int refresh_seconds = 5);

}  // namespace cdc
