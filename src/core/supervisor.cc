#include "core/supervisor.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/order.h"
#include "core/report.h"

namespace podvisor::core {

Supervisor::Supervisor(const config::SupervisorSpec& spec, ProcessDriver& driver,
                       std::function<void(const Outcome&)> on_done)
    : exit_on_fatal_(spec.exit_on_fatal),
      hold_on_fatal_(spec.hold_on_fatal),
      driver_(driver),
      on_done_(std::move(on_done)) {
  for (const auto& program : spec.programs) {
    programs_.push_back(std::make_unique<Process>(program, driver, this));
  }
  sort_programs();
}

void Supervisor::start_all() {
  for (auto& p : programs_) {
    if (shutting_down()) return;
    if (p->spec().autostart) start_program(*p);
  }
  check_done();
}

Process* Supervisor::find(const std::string& name) const {
  for (const auto& p : programs_) {
    if (p->name() == name) return p.get();
  }
  return nullptr;
}

std::string Supervisor::unmet_dependencies(const Process& p, const Process** fatal) const {
  using Condition = config::Dependency::Condition;
  std::string waiting;
  for (const auto& d : p.spec().depends_on) {
    const auto* q = find(d.name);
    if (!q) continue;  // removed by a reload: nothing left to wait for
    if (const auto* cause = fatal_cause(*q)) {
      if (fatal) *fatal = cause;
      if (cause == q) return fmt::format("blocked: {} is FATAL", q->name());
      return fmt::format("blocked: {} is blocked ({} is FATAL)", q->name(), cause->name());
    }
    bool holds = false;
    const char* what = q->spec().oneshot ? "done" : "ready";
    switch (d.condition) {
      case Condition::kStarted:
        holds = q->spawned();
        what = "started";
        break;
      case Condition::kReady:
        // A oneshot is ready once it is done.
        holds = q->spec().oneshot ? q->done() : q->state() == State::kRunning;
        break;
      case Condition::kDone:
        holds = q->done();
        what = "done";
        break;
    }
    if (!holds) waiting += fmt::format("{}{} ({})", waiting.empty() ? "" : ", ", q->name(), what);
  }
  return waiting.empty() ? "" : fmt::format("waiting for {}", waiting);
}

const Process* Supervisor::fatal_cause(const Process& q) const {
  if (q.state() == State::kFatal) return &q;
  if (q.active() || !held_back_.count(&q)) return nullptr;
  for (const auto& d : q.spec().depends_on) {
    if (const auto* r = find(d.name)) {
      if (const auto* cause = fatal_cause(*r)) return cause;
    }
  }
  return nullptr;
}

void Supervisor::start_program(Process& p) {
  const Process* fatal = nullptr;
  auto reason = unmet_dependencies(p, &fatal);
  if (reason.empty()) {
    held_back_.erase(&p);
    p.start();
    return;
  }
  auto& last = held_back_[&p];
  if (last == reason) return;
  last = reason;
  driver_.log(fatal ? config::LogLevel::kError : config::LogLevel::kInfo,
              fmt::format("{} {}", p.name(), reason));
  // A main program that can never start ends podvisor, as its failure would.
  if (fatal && p.spec().main && !outcome_) {
    fail({1, fatal}, fmt::format("{} cannot start ({})", p.name(), reason));
  }
}

void Supervisor::start_ready_programs() {
  if (held_back_.empty() || shutting_down()) return;
  for (auto& p : programs_) {
    if (shutting_down()) return;
    if (held_back_.count(p.get()) && !p->active()) start_program(*p);
  }
}

void Supervisor::start_process(Process& p) {
  if (shutting_down()) return;
  held_back_.erase(&p);
  p.start();
}

void Supervisor::stop_process(Process& p) {
  held_back_.erase(&p);
  p.stop();
}

void Supervisor::add_programs(const std::vector<config::ProgramSpec>& specs) {
  if (shutting_down()) return;
  retired_.clear();
  std::vector<Process*> added;
  for (const auto& s : specs) {
    if (find(s.name)) continue;
    programs_.push_back(std::make_unique<Process>(s, driver_, this));
    added.push_back(programs_.back().get());
  }
  sort_programs();
  start_in_order(added);
}

bool Supervisor::remove_group(const std::string& group) {
  const auto in_group = [&](const auto& p) { return p->spec().group == group; };
  if (std::any_of(programs_.begin(), programs_.end(),
                  [&](const auto& p) { return in_group(p) && p->active(); })) {
    return false;
  }
  retired_.clear();
  for (auto it = programs_.begin(); it != programs_.end();) {
    if (in_group(*it)) {
      held_back_.erase(it->get());
      reloading_.erase(it->get());
      clear_hold(it->get());
      retired_.push_back(std::move(*it));
      it = programs_.erase(it);
    } else {
      ++it;
    }
  }
  return true;
}

std::string Supervisor::held_back(const Process& p) const {
  const auto it = held_back_.find(&p);
  return it == held_back_.end() ? "" : it->second;
}

bool Supervisor::needs(const Process& q, const Process& p) const {
  for (const auto& d : q.spec().depends_on) {
    if (d.name == p.name()) return true;
    if (const auto* r = find(d.name); r && r != &q && needs(*r, p)) return true;
  }
  return false;
}

void Supervisor::request_shutdown() {
  ++shutdown_requests_;
  if (shutdown_requests_ == 1) {
    // The requested stop ends with the main program's status (0 when there is none), or
    // with the failure podvisor holds on: the status it would have ended with.
    if (!outcome_) outcome_ = hold_ ? hold_->outcome : Outcome{};
    stop_all();
  } else {
    for (auto& p : programs_) p->kill_now();
  }
  check_done();
}

void Supervisor::forward_signal(int signo) {
  for (auto& p : programs_) {
    if (p->spec().main) p->signal(signo);
  }
}

void Supervisor::on_child_exit(Process& p, int wait_status) {
  p.on_exit(wait_status);
  check_done();
}

void Supervisor::on_exec_failed(Process& p, const ProcessDriver::Spawned& result) {
  p.on_exec_failed(result);
  check_done();
}

void Supervisor::state_changed(Process& p, State from) {
  driver_.log(config::LogLevel::kDebug,
              fmt::format("{}: {} -> {}", p.name(), to_string(from), to_string(p.state())));
  if (listener_) listener_(p, from);
  if (event_listener_) event_listener_(p, from);
  if (!p.active() && reloading_.count(&p)) {
    settle_reloaded(p);
    // During a shutdown the stopped program still has to move the shutdown along.
    if (!outcome_) return;
  }
  if (!outcome_) apply_exit_policy(p);
  if (outcome_) {
    continue_stopping();
  } else {
    start_ready_programs();
  }
  check_done();
}

void Supervisor::apply_exit_policy(Process& p) {
  if (p.state() == State::kRunning) clear_hold(&p);
  if (p.state() == State::kFatal && (exit_on_fatal_ || p.spec().main)) {
    fail({p.fatal_exit_code(), &p}, fmt::format("{} is FATAL ({})", p.name(), p.fatal_reason()));
  } else if (p.spec().main && !p.active() && p.last_exit()) {
    const auto status = p.last_exit()->status();
    if (p.state() == State::kExited && status != 0) {
      fail({status, &p}, fmt::format("{} exited ({})", p.name(), describe_exit(*p.last_exit())));
    } else if (!hold_ || p.state() == State::kExited) {
      // A clean exit ends podvisor, held or not; a stop that was asked for (ctl stop) does
      // too, unless podvisor holds on a failure: then it is part of the retrying.
      clear_hold();
      begin_shutdown({status, status == 0 ? nullptr : &p});
    }
  }
}

void Supervisor::fail(Outcome outcome, std::string reason) {
  if (!hold_on_fatal_) return begin_shutdown(outcome);
  outcome.reported = true;
  hold_ = Hold{outcome, std::move(reason)};
  if (hold_listener_) hold_listener_(&*hold_);
}

void Supervisor::clear_hold(const Process* only_for) {
  if (!hold_ || (only_for && hold_->outcome.failed != only_for)) return;
  hold_.reset();
  if (hold_listener_) hold_listener_(nullptr);
}

void Supervisor::begin_shutdown(Outcome outcome) {
  outcome_ = outcome;
  stop_all();
}

void Supervisor::stop_all() {
  for (auto& p : programs_) p->forbid_restart();
  continue_stopping();
}

void Supervisor::continue_stopping() {
  // Each stop() below is a state change that comes back here: once the loop is done is soon
  // enough (else a level of N programs is sorted N times, N deep).
  if (stop_scratch_.busy) {
    stop_scratch_.again = true;
    return;
  }
  stop_scratch_.busy = true;
  do {
    stop_scratch_.again = false;
    stop_next();
  } while (stop_scratch_.again);
  stop_scratch_.busy = false;
}

void Supervisor::stop_next() {
  // As supervisord: by group priority, the highest first, and the next only once every
  // process of those has stopped (core/order.h: next_to_stop). A program waits, whatever its
  // group, until everything that depends on it has stopped.
  const bool any_dependencies = std::any_of(programs_.begin(), programs_.end(), [](const auto& p) {
    return !p->spec().depends_on.empty();
  });
  auto can_stop = [&](const Process& p) {
    if (!p.active()) return false;
    if (stop_gate_ && !stop_gate_(p)) return false;
    if (!any_dependencies) return true;
    return std::none_of(programs_.begin(), programs_.end(), [&](const auto& q) {
      return q.get() != &p && q->active() && needs(*q, p);
    });
  };
  // Kept between calls (this runs at every state change of a shutdown): no allocation.
  auto& [stoppable, specs, stopping, busy, again] = stop_scratch_;
  stoppable.clear();
  specs.clear();
  stopping.clear();
  for (auto& p : programs_) {
    if (!can_stop(*p)) continue;
    stoppable.push_back(p.get());
    specs.push_back(&p->spec());
    stopping.push_back(p->state() == State::kStopping);
  }
  for (const auto i : next_to_stop(specs, stopping)) stoppable[i]->stop();
}

void Supervisor::start_in_order(std::vector<Process*> added) {
  std::stable_sort(added.begin(), added.end(), [](const auto* a, const auto* b) {
    return starts_before(a->spec(), b->spec());
  });
  for (auto* p : added) {
    if (p->spec().autostart) start_program(*p);
  }
}

void Supervisor::sort_programs() {
  std::stable_sort(programs_.begin(), programs_.end(), [](const auto& a, const auto& b) {
    return starts_before(a->spec(), b->spec());
  });
}

void Supervisor::update(const config::SupervisorSpec& spec) {
  if (shutting_down()) return;
  retired_.clear();
  exit_on_fatal_ = spec.exit_on_fatal;
  hold_on_fatal_ = spec.hold_on_fatal;
  std::vector<Process*> to_start;
  for (auto& p : programs_) {
    const auto it = std::find_if(spec.programs.begin(), spec.programs.end(),
                                 [&](const auto& s) { return s.name == p->name(); });
    if (it == spec.programs.end()) {
      reloading_[p.get()] = std::nullopt;  // removed
    } else if (!(*it == p->spec())) {
      reloading_[p.get()] = *it;  // changed
    }
  }
  for (const auto& s : spec.programs) {
    const bool known = std::any_of(programs_.begin(), programs_.end(),
                                   [&](const auto& p) { return p->name() == s.name; });
    if (!known) {
      programs_.push_back(std::make_unique<Process>(s, driver_, this));
      to_start.push_back(programs_.back().get());
    }
  }
  sort_programs();
  // Copy: settling a program that is already stopped changes reloading_.
  const auto pending = reloading_;
  for (const auto& [p, next] : pending) {
    if (!p->active()) {
      settle_reloaded(*p);
      continue;
    }
    p->forbid_restart();  // a BACKOFF settles here, and may start again with its new spec
    if (reloading_.count(p)) p->stop();
  }
  start_in_order(to_start);
}

void Supervisor::settle_reloaded(Process& p) {
  const auto node = reloading_.extract(&p);
  if (node.mapped()) {
    p.replace_spec(*node.mapped());
    if (p.spec().autostart && !shutting_down()) start_program(p);
    return;
  }
  // Removed: out of the list now, destroyed at the next reload (we may be inside its call).
  const auto it = std::find_if(programs_.begin(), programs_.end(),
                               [&](const auto& q) { return q.get() == &p; });
  if (it != programs_.end()) {
    held_back_.erase(&p);
    clear_hold(&p);
    retired_.push_back(std::move(*it));
    programs_.erase(it);
  }
}

void Supervisor::check_done() {
  if (done_ || !outcome_) return;
  for (const auto& p : programs_) {
    if (p->active()) return;
  }
  done_ = true;
  auto outcome = *outcome_;
  // A requested stop reports the main program's own status (single-command mode).
  if (shutdown_requests_ > 0 && !outcome.failed && outcome.exit_code == 0) {
    for (const auto& p : programs_) {
      if (p->spec().main && p->last_exit()) outcome.exit_code = p->last_exit()->status();
    }
  }
  on_done_(outcome);
}

}  // namespace podvisor::core
