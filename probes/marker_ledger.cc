#include "probes/marker_ledger.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <set>

#include "cdc/common/clock.h"
#include "cdc/common/duration.h"

namespace cdc {
namespace {

constexpr std::string_view kTokenPrefix = "cdcs-";
constexpr std::size_t kTokenHex = 24;

bool IsHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

}  // namespace

MarkerLedger::MarkerLedger(ObservationStore& store, Logger& log)
    : store_(store), log_(log) {}

std::string MarkerLedger::NewToken() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string t(kTokenPrefix);
  for (std::size_t i = 0; i < kTokenHex; ++i) t.push_back(kHex[rng() & 15]);
  return t;
}

void MarkerLedger::Retain(const std::vector<config::Connector>& connectors) {
  std::set<std::string> keep;
  for (const auto& c : connectors) keep.insert(c.name);
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = rounds_.begin(); it != rounds_.end();) {
    for (auto o = it->second.outcome.begin(); o != it->second.outcome.end();) {
      if (keep.count(o->first) == 0) {
        if (o->second == MarkerOutcome::kPending && it->second.pending > 0) {
          --it->second.pending;
        }
        it->second.deadline.erase(o->first);
        it->second.arrived.erase(o->first);
        o = it->second.outcome.erase(o);
      } else {
        ++o;
      }
    }
    it = it->second.outcome.empty() ? rounds_.erase(it) : std::next(it);
  }
  for (const auto& name : keep) UpdatePendingLocked(name);
}

void MarkerLedger::UpdatePendingLocked(const std::string& connector) {
  double since = 0;
  for (const auto& [token, r] : rounds_) {
    auto o = r.outcome.find(connector);
    if (o == r.outcome.end() || r.arrived.count(connector)) continue;
    const double w = UnixSeconds(r.written_at);
    if (since == 0 || w < since) since = w;
  }
  store_.Update(connector, [&](ObservationStore::Entry& e) {
    e.obs.marker.pending_since = since;
  });
}

void MarkerLedger::Expect(const std::string& token,
                          WallClock::time_point written_at,
                          const std::vector<std::string>& connectors) {
  Round r;
  r.written_at = written_at;
  const double w = UnixSeconds(written_at);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& name : connectors) {
    store_.Update(name, [&](ObservationStore::Entry& e) {
      r.outcome[name] = MarkerOutcome::kPending;
      r.deadline[name] = written_at + e.config.marker.timeout;
      MarkerObservation& m = e.obs.marker;
      m.last_write = MarkerObservation::Write::kOk;
      if (m.first_write_at == 0) m.first_write_at = w;
      if (m.pending_since == 0 || w < m.pending_since) m.pending_since = w;
      // The connector must answer this write with some output; armed only
      // once the exporter reads its Kafka cluster (before the first
      // metadata look-up and partition assignment nothing can be seen, and
      // the wait must not teach the stall window).
      if (e.obs.kafka.up.value_or(false)) {
        if (m.unanswered_since == 0) m.unanswered_since = w;
        ++m.unanswered_writes;
      }
    });
  }
  if (r.outcome.empty()) return;
  r.pending = r.outcome.size();
  rounds_.emplace(token, std::move(r));
}

void MarkerLedger::WriteFailed(const std::vector<std::string>& connectors,
                               bool setup, const std::string& error) {
  for (const auto& name : connectors) {
    store_.Update(name, [&](ObservationStore::Entry& e) {
      MarkerObservation& m = e.obs.marker;
      ++m.errors;
      m.last_write = setup ? MarkerObservation::Write::kSetupError
                           : MarkerObservation::Write::kUnreachable;
      m.write_error = error;
    });
  }
}

bool MarkerLedger::Awaiting(const std::string& connector) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [token, r] : rounds_) {
    if (r.outcome.count(connector) && !r.arrived.count(connector)) {
      return true;
    }
  }
  return false;
}

void MarkerLedger::JudgeLocked(Round& round, const std::string& connector,
                               MarkerOutcome outcome,
                               WallClock::time_point at) {
  if (round.outcome[connector] == MarkerOutcome::kPending &&
      outcome != MarkerOutcome::kPending && round.pending > 0) {
    --round.pending;
  }
  round.outcome[connector] = outcome;
  if (outcome == MarkerOutcome::kFound) round.arrived[connector] = true;
  store_.Update(connector, [&](ObservationStore::Entry& e) {
    MarkerObservation& m = e.obs.marker;
    switch (outcome) {
      case MarkerOutcome::kPending:
        return;
      case MarkerOutcome::kError:
        ++m.errors;
        log_.Warn(
            "marker not judged: the Kafka cluster cannot be read",
            {{"connector", connector}, {"kafka_cluster", e.config.kafka}});
        return;
      case MarkerOutcome::kFound: {
        const double latency = std::max(
            0.0, std::chrono::duration<double>(at - round.written_at).count());
        m.last_found = true;
        m.last_latency = latency;
        m.consecutive_misses = 0;
        ++m.found;
        m.last_success_ts = UnixSeconds(at);
        m.latency.Observe(latency);
        return;
      }
      case MarkerOutcome::kNotFound:
        m.last_found = false;
        ++m.consecutive_misses;
        ++m.not_found;
        log_.Warn("marker not delivered within the timeout",
                  {{"connector", connector},
                   {"tls_version", TlsLabel(e.config, e.obs)},
                   {"timeout", FormatDuration(e.config.marker.timeout)},
                   {"consecutive_misses", std::to_string(m.consecutive_misses)},
                   {"rest_state", e.obs.rest.ToString()}});
        return;
    }
  });
}

void MarkerLedger::LateLocked(Round& round, const std::string& connector,
                              WallClock::time_point at) {
  round.arrived[connector] = true;
  store_.Update(connector, [&](ObservationStore::Entry& e) {
    MarkerObservation& m = e.obs.marker;
    const double latency = std::max(
        0.0, std::chrono::duration<double>(at - round.written_at).count());
    ++m.late;
    m.latency.Observe(latency);
    log_.Info("marker arrived late",
              {{"connector", connector},
               {"tls_version", TlsLabel(e.config, e.obs)},
               {"latency_seconds", std::to_string(latency)},
               {"timeout", FormatDuration(e.config.marker.timeout)}});
  });
}

bool MarkerLedger::FinishRound(std::map<std::string, Round>::iterator it,
                               WallClock::time_point now) {
  Round& r = it->second;
  if (!r.cohort_counted) {
    int found = 0;
    bool judged = true;
    for (const auto& [name, o] : r.outcome) {
      judged = judged && o != MarkerOutcome::kPending;
      if (o == MarkerOutcome::kFound) ++found;
    }
    if (!judged) return false;
    // Solo: missed while another member of the cohort got the same marker.
    // Shared: every member missed it (with one member, every miss is shared).
    for (const auto& [name, o] : r.outcome) {
      if (o != MarkerOutcome::kNotFound) continue;
      store_.Update(name, [&](ObservationStore::Entry& e) {
        ++(found > 0 ? e.obs.marker.solo : e.obs.marker.shared);
      });
    }
    r.cohort_counted = true;
  }
  if (r.arrived.size() < r.outcome.size() && now - r.written_at < kRetention) {
    return false;
  }
  std::vector<std::string> members;
  for (const auto& [name, o] : r.outcome) members.push_back(name);
  rounds_.erase(it);
  for (const auto& name : members) UpdatePendingLocked(name);
  return true;
}

void MarkerLedger::OnRecord(const std::string& connector,
                            std::string_view bytes,
                            WallClock::time_point seen) {
  // Also skips a null record key or value (data() == nullptr): memmem must
  // not be given a null pointer.
  if (bytes.size() < kTokenPrefix.size() + kTokenHex) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (rounds_.empty()) return;
  std::size_t pos = 0;
  while (true) {
    const void* hit = memmem(bytes.data() + pos, bytes.size() - pos,
                             kTokenPrefix.data(), kTokenPrefix.size());
    if (hit == nullptr) break;
    const std::size_t at = static_cast<const char*>(hit) - bytes.data();
    pos = at + kTokenPrefix.size();
    if (bytes.size() - at < kTokenPrefix.size() + kTokenHex) break;
    std::string_view token = bytes.substr(at, kTokenPrefix.size() + kTokenHex);
    bool hex = true;
    for (char ch : token.substr(kTokenPrefix.size())) hex = hex && IsHex(ch);
    if (!hex) continue;
    auto it = rounds_.find(std::string(token));
    if (it == rounds_.end()) continue;
    auto o = it->second.outcome.find(connector);
    if (o == it->second.outcome.end() || it->second.arrived.count(connector)) {
      continue;
    }
    if (o->second == MarkerOutcome::kPending) {
      JudgeLocked(it->second, connector, MarkerOutcome::kFound, seen);
    } else {
      LateLocked(it->second, connector, seen);
    }
    SupersedeLocked(connector, it->second.written_at, seen);
    if (rounds_.count(std::string(token)) != 0) {
      FinishRound(rounds_.find(std::string(token)), seen);
    }
    UpdatePendingLocked(connector);
  }
}

void MarkerLedger::SupersedeLocked(const std::string& connector,
                                   WallClock::time_point written_at,
                                   WallClock::time_point now) {
  // Events arrive in order: once a marker arrived, an older one that has
  // not will not (it was lost, e.g. skipped by a restart from a later
  // offset); it no longer counts as pending. Rounds still waiting for
  // their deadline are judged then as usual.
  for (auto it = rounds_.begin(); it != rounds_.end();) {
    Round& r = it->second;
    auto next = std::next(it);
    if (r.written_at < written_at && r.outcome.count(connector) &&
        !r.arrived.count(connector)) {
      r.arrived[connector] = true;
      FinishRound(it, now);
    }
    it = next;
  }
}

void MarkerLedger::Expire(WallClock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  // Oldest rounds first, so consecutive misses count in order.
  std::vector<std::pair<WallClock::time_point, std::string>> order;
  for (const auto& [token, r] : rounds_)
    order.emplace_back(r.written_at, token);
  std::sort(order.begin(), order.end());
  for (const auto& [when, token] : order) {
    auto it = rounds_.find(token);
    if (it->second.pending == 0) {  // judged: only waiting for late arrivals
      FinishRound(it, now);
      continue;
    }
    for (auto& [name, o] : it->second.outcome) {
      if (o != MarkerOutcome::kPending || now < it->second.deadline[name]) {
        continue;
      }
      std::string kafka;
      store_.Update(
          name, [&](ObservationStore::Entry& e) { kafka = e.config.kafka; });
      const std::optional<bool> up = store_.KafkaUp(kafka);
      JudgeLocked(it->second, name,
                  up.has_value() && !*up ? MarkerOutcome::kError
                                         : MarkerOutcome::kNotFound,
                  now);
    }
    FinishRound(it, now);
  }
}

}  // namespace cdc
