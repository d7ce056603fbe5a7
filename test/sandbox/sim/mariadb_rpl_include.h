#pragma once

// Connector/C's mariadb_rpl.h uses MYSQL and friends without including
// mysql.h itself, so the order matters.
// clang-format off
#include <mysql.h>
#include <mariadb_rpl.h>
// clang-format on
