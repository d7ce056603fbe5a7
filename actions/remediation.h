#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "actions/action_counters.h"
#include "cdc/common/log.h"
#include "config/config.h"
#include "probes/connect_client.h"
#include "probes/observations.h"
#include "probes/probe.h"
#include "probes/probe_kind.h"
#include "probes/verdict.h"

namespace cdc {

// Acts on one connector's verdict: captures evidence (e.g. a JVM thread
// dump) at the moment of failure and, if enabled, restarts the connector
// through the Kafka Connect REST API. One per connector that has
// evidence.command or auto_restart.enabled (see Needed()). Thread-safe in the
// Probe sense: Run() is never concurrent with itself; Cancel() may come from
// any thread.
//
// Each Run(), in this order (evidence first: a restart would destroy it):
//
// 1. Evidence capture. Triggered only by a stalled verdict (silent_failure;
//    never lagging, misconfigured or unknown); the trigger is "solo_failure"
//    when the connector's solo cohort failures also grew since the last run
//    (its own path failed while its siblings delivered), else
//    "silent_failure". At most one
//    capture starts per evidence.min_interval, counted from the start of the
//    previous attempt whatever its result (so a broken command is retried,
//    and logged, once per min_interval, not every run).
//    The command runs as argv, without a shell (posix_spawnp: PATH lookup as
//    execvp), in its own process group, stdin from /dev/null, stdout and
//    stderr appended to a new file
//      <directory>/<connector>-<UTC YYYYMMDDTHHMMSSZ>.txt   (mode 0640)
//    after a header of "# key: value" lines (connector, tls_version, trigger,
//    reason, time, command) and followed by a "# result: ..." footer.
//    Characters of the connector name other than [A-Za-z0-9._-] become '_'
//    in the file name; an existing file gets a "-1", "-2", ... suffix. The
//    directory (and missing parents) are created with mode 0750. Other file
//    descriptors of the exporter are not inherited.
//    When the command exits, whatever is left in its process group is killed
//    (a capture leaves nothing running). On evidence.timeout (or the run's
//    deadline, if earlier) or Cancel(), the whole process group gets SIGKILL
//    and the command is reaped: no zombies. A process that does not die
//    within 1 s of SIGKILL (stuck in the kernel) is reaped by a later Run()
//    or the destructor.
//    Result label of cdc_evidence_captures_total{connector,result}:
//      ok            exit status 0
//      failed        nonzero exit status or killed by a signal
//      timeout       killed after evidence.timeout (or by Cancel())
//      error         could not create the directory or file, or start the
//                    command (the file is removed then: it holds nothing)
//      rate_limited  triggered within min_interval of the previous attempt:
//                    no capture; counted once per run that wanted one (so
//                    its rate shows how long the failure went on), logged
//                    at debug level only
//    One log line per capture attempt with the file path and the result.
//
// 2. Auto-restart, only if auto_restart.enabled and the connector has a
//    connect_cluster. Counts consecutive runs whose verdict is stalled
//    (silent_failure) (a run with any other verdict resets it to 0). When the
//    count reaches auto_restart.after, it is reset to 0 and, if the verdict
//    is still silent_failure when re-read after the capture, the probe POSTs
//    /connectors/<name>/restart?includeTasks=true&onlyFailed=false under the
//    run's deadline. At most auto_restart.max_per_hour POSTs (whatever their
//    result) are sent in any sliding hour; a would-be restart beyond that is
//    not sent.
//    Result label of cdc_remediation_restarts_total{connector,result}:
//      ok            HTTP 200, 202 or 204
//      error         any other status, or no response (logged with the
//                    status and the first line of the body)
//      rate_limited  a would-be restart over max_per_hour (logged)
//
// Run() returns Ok() when it did its job, including deciding to do nothing
// or being rate limited, and Fail(reason) when a capture it started did not
// end "ok" or a restart it sent got "error". The counters live in (and are
// exported by) ActionCounters, so they survive a reload that rebuilds this
// action; Collect() adds nothing.
//
// It is not a probe: it observes nothing and acts on the verdict
// (probes/verdict.h). It runs on the scheduler like the probes (same
// deadline and cancel rules; the "remediation" probe label).
class RemediationProbe final : public Probe {
 public:
  // Whether `connector` has anything for this probe to do.
  static bool Needed(const config::Connector& connector);

  // `cluster` is the connector's connect_cluster, or null when it has none
  // (MSK Connect); then auto-restart is off (with a warning if enabled).
  // Throws std::invalid_argument if `cluster` does not match the connector's
  // connect_cluster. Borrows `store`, `counters` and `log`.
  RemediationProbe(const config::Connector& connector,
                   const config::ConnectCluster* cluster,
                   const ObservationStore& store, ActionCounters& counters,
                   Logger& log);
  ~RemediationProbe() override;
  RemediationProbe(const RemediationProbe&) = delete;
  RemediationProbe& operator=(const RemediationProbe&) = delete;

  std::string_view Kind() const override { return "remediation"; }
  const std::string& Target() const override { return connector_.name; }
  std::chrono::milliseconds Interval() const override {
    return connector_.marker.interval;
  }
  // evidence.timeout + the cluster's timeout (0 without one) + 2 s.
  std::chrono::milliseconds Timeout() const override;
  bool SameAs(const Probe& other) const override;
  ProbeOutcome Run(const ProbeContext& ctx) override;
  // Kills a running capture (SIGKILL to its process group) and aborts a
  // restart request in progress.
  void Cancel() override;
  void Collect(MetricSink&) const override {}

 private:
  using SteadyClock = std::chrono::steady_clock;

  struct CaptureOutcome {
    std::string result;  // a result label
    std::string path;    // the evidence file ("" if none was created)
    std::string detail;  // for the log and Fail()
  };

  // Step 1; returns why it failed, if it did.
  std::optional<std::string> MaybeCapture(const Verdict& v,
                                          SteadyClock::time_point deadline);
  CaptureOutcome Capture(const Verdict& v, std::string_view trigger,
                         SteadyClock::time_point deadline);
  // The "# key: value" header of an evidence file.
  std::string EvidenceHeader(const Verdict& v, std::string_view trigger,
                             WallClock::time_point now) const;
  // Waits for the started capture `pid` (Await) and sets out's result and
  // detail from how it ended.
  void Finish(pid_t pid, SteadyClock::time_point deadline, CaptureOutcome& out);
  // Waits for the started command `pid` until `deadline`, kills and reaps
  // it. Sets *how to "exit", "timeout" or "cancelled"; returns the wait
  // status (valid for "exit"), or nullopt if it could not be collected.
  std::optional<int> Await(pid_t pid, SteadyClock::time_point deadline,
                           std::string* how);
  // Kills `pid`'s process group and reaps `pid` within a grace period; if it
  // does not die, remembers it in unreaped_.
  void KillAndReap(pid_t pid);
  void ReapLeftovers();

  // Step 2; returns why it failed, if it did.
  std::optional<std::string> MaybeRestart(const Verdict& v,
                                          SteadyClock::time_point deadline);

  const config::Connector connector_;
  const std::optional<config::ConnectCluster> cluster_;
  const ObservationStore& store_;
  ActionCounters& counters_;
  Logger& log_;
  const std::unique_ptr<connect::ConnectClient> client_;  // null: no restarts

  // Touched by Run() only.
  uint64_t last_solo_ = 0;
  std::optional<SteadyClock::time_point> last_capture_;
  int consecutive_silent_ = 0;
  std::deque<SteadyClock::time_point> restarts_;  // POSTs in the last hour

  // Shared with Cancel().
  std::mutex mu_;
  pid_t child_ = -1;  // running capture (its process group id), -1 none
  bool cancelled_ = false;
  std::vector<pid_t> unreaped_;  // killed but not yet reaped
};

// Builds the actions `cfg` asks for: a RemediationProbe for every connector
// with evidence.command or auto_restart.enabled.
void BuildActions(const config::Config& cfg, const ObservationStore& store,
                  ActionCounters& counters, Logger& log,
                  std::vector<std::shared_ptr<Probe>>& out);

}  // namespace cdc
