#include "progress_display.hpp"

#include "human_units.hpp"
#include "terminal.hpp"

#include "base/error.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

namespace mmb::cli {

namespace {

constexpr double kBarRedrawSeconds = 0.1;
constexpr double kLinesQuietSeconds = 1.0;    // a step done sooner prints no line
constexpr double kLinesMinGapSeconds = 2.0;   // between two 10% lines
constexpr double kLinesMaxGapSeconds = 30.0;  // a line even without a further 10%
constexpr size_t kMinBarWidth = 10, kMaxBarWidth = 30;

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// "4.4 s", "1m05s", "2h03m"
std::string duration_text(double seconds) {
  char buf[32];
  if (seconds < 60) std::snprintf(buf, sizeof buf, "%.1f s", seconds);
  else if (seconds < 3600) std::snprintf(buf, sizeof buf, "%dm%02ds", int(seconds) / 60, int(seconds) % 60);
  else std::snprintf(buf, sizeof buf, "%dh%02dm", int(seconds) / 3600, int(seconds) / 60 % 60);
  return buf;
}

// What is left, in whole seconds rounded up: "3 s", "1m05s"
std::string eta_text(double seconds) {
  const double whole = std::ceil(seconds);
  return whole < 60 ? cat(int(whole), " s") : duration_text(whole);
}

// "232.1 / 516.2 MiB": `done` in the unit human_bytes gives `total`, right-aligned to it.
std::string bytes_of_total(uint64_t done, uint64_t total) {
  const ByteUnit unit = byte_unit(total);
  char t[32], d[32], out[80];
  const int decimals = unit.size == 1.0 ? 0 : 1;
  std::snprintf(t, sizeof t, "%.*f", decimals, double(total) / unit.size);
  std::snprintf(d, sizeof d, "%*.*f", int(std::strlen(t)), decimals, double(done) / unit.size);
  std::snprintf(out, sizeof out, "%s / %s %s", d, t, unit.name);
  return out;
}

unsigned percent(uint64_t done, uint64_t total) {
  return total == 0 || done >= total ? 100u : unsigned(double(done) * 100.0 / double(total));
}

}  // namespace

struct ProgressDisplay::Step {
  Step(ProgressDisplay& d, std::string n) : display(d), name(std::move(n)), fn(*this) {}
  bool operator()(uint64_t d, uint64_t t) {
    display.update(*this, d, t);
    return true;
  }

  ProgressDisplay& display;
  std::string name;
  ProgressFn fn;  // calls operator()
  bool started = false, ended = false;
  uint64_t done = 0, total = 0;
  double start = 0;
  double last_output = -1;  // when the bar was drawn or a line printed; < 0: never
  unsigned last_decile = 0;  // of the last line (Lines)
  size_t drawn = 0;          // characters of the bar on screen (Bar)
};

ProgressStyle progress_style_for(std::FILE* stream, bool quiet) {
  if (quiet) return ProgressStyle::Off;
  return is_terminal(stream) ? ProgressStyle::Bar : ProgressStyle::Lines;
}

ProgressDisplay::ProgressDisplay(std::string command, bool quiet)
    : ProgressDisplay(std::move(command), progress_style_for(stderr, quiet), stderr) {}

ProgressDisplay::ProgressDisplay(std::string command, ProgressStyle style, std::FILE* out, Clock clock)
    : command_(std::move(command)), style_(style), out_(out), clock_(clock ? std::move(clock) : Clock(steady_seconds)) {
  if (style_ == ProgressStyle::Bar)
    if (const size_t columns = terminal_columns(out_)) columns_ = columns;
}

ProgressDisplay::~ProgressDisplay() {
  if (open_ && style_ == ProgressStyle::Bar && open_->drawn) {
    std::fputc('\n', out_);
    std::fflush(out_);
  }
}

ProgressFn* ProgressDisplay::step(std::string name) {
  if (style_ == ProgressStyle::Off) return nullptr;
  steps_.push_back(std::make_unique<Step>(*this, std::move(name)));
  return &steps_.back()->fn;
}

void ProgressDisplay::update(Step& step, uint64_t done, uint64_t total) {
  if (step.ended) return;
  const double now = clock_();
  if (!step.started) {
    if (open_) end(*open_, now);
    open_ = &step;
    step.started = true;
    step.start = now;
  }
  step.done = done;
  step.total = total;
  if (done >= total) return end(step, now);
  if (style_ == ProgressStyle::Bar) {
    if (step.last_output < 0 || now - step.last_output >= kBarRedrawSeconds) draw_bar(step, now, false);
    return;
  }
  if (now - step.start < kLinesQuietSeconds) return;
  const unsigned decile = percent(done, total) / 10;
  const double gap = now - (step.last_output < 0 ? step.start : step.last_output);
  const bool further = decile > step.last_decile && (step.last_output < 0 || gap >= kLinesMinGapSeconds);
  if (further || gap >= kLinesMaxGapSeconds) {
    print_line(step, now, false);
    step.last_decile = decile;
  }
}

void ProgressDisplay::end(Step& step, double now) {
  const bool complete = step.done >= step.total;
  if (style_ == ProgressStyle::Bar) {
    if (complete) draw_bar(step, now, true);
    if (step.drawn) std::fputc('\n', out_);
  } else if (complete && now - step.start >= kLinesQuietSeconds) {
    print_line(step, now, true);
  }
  std::fflush(out_);
  step.ended = true;
  if (open_ == &step) open_ = nullptr;
}

// "synth: write [#####.....]  45%  232.1 / 516.2 MiB   310.4 MiB/s  ETA 2 s", the last
// "... 100%  516.2 / 516.2 MiB   310.4 MiB/s  in 1.7 s"; no bar for a width of 0. The
// fields have fixed widths, so a step's lines all have one length (a bar is redrawn
// over itself, log lines align).
std::string ProgressDisplay::text(const Step& step, double now, bool final, size_t bar_width) const {
  const unsigned pct = percent(step.done, step.total);
  const double elapsed = now - step.start;
  std::string s = cat(command_, ": ", step.name, " ");
  if (bar_width) {
    const size_t filled = bar_width * pct / 100;
    s.append("[").append(filled, '#').append(bar_width - filled, '.').append("] ");
  }
  char buf[96];
  std::snprintf(buf, sizeof buf, "%3u%%  %s", pct, bytes_of_total(step.done, step.total).c_str());
  s.append(buf);
  const bool timed = elapsed > 0.05 && step.done > 0;
  const std::string rate = timed ? human_bytes(uint64_t(double(step.done) / elapsed)) + "/s" : "";
  const std::string when = final ? "in " + duration_text(elapsed)
                           : timed ? "ETA " + eta_text(double(step.total - step.done) * elapsed / double(step.done))
                                   : "";
  std::snprintf(buf, sizeof buf, "  %12s  %-10s", rate.c_str(), when.c_str());
  s.append(buf);
  return s;
}

void ProgressDisplay::draw_bar(Step& step, double now, bool final) {
  // The bar takes what the terminal's width leaves, up to kMaxBarWidth; a line that
  // wraps could not be redrawn in place, so it is cut short instead.
  std::string line = text(step, now, final, 0);
  const size_t room = columns_ > line.size() + 4 ? columns_ - line.size() - 4 : 0;  // "[", "] ", the cursor
  if (room >= kMinBarWidth) line = text(step, now, final, std::min(room, kMaxBarWidth));
  if (line.size() >= columns_) line.resize(columns_ - 1);
  const size_t width = line.size();
  if (width < step.drawn) line.append(step.drawn - width, ' ');  // over a longer line drawn before
  line.insert(line.begin(), '\r');
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
  step.drawn = std::max(width, step.drawn);
  step.last_output = now;
}

void ProgressDisplay::print_line(Step& step, double now, bool final) {
  std::string line = text(step, now, final, 0);
  line.erase(line.find_last_not_of(' ') + 1);  // a log line ends without blanks
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
  step.last_output = now;
}

}  // namespace mmb::cli
