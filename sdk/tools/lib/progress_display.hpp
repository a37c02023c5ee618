// Progress of the mmb CLI's long steps (pack, convert, synth, verify, bench load) on
// stderr, drawn from the library's own progress callbacks (base/progress.hpp: the
// bytes a host's mmb_load_options.progress sees, and the writer's and packers' like
// them), so that what the CLI shows and what a host's loading screen shows agree.
// stdout is never touched.
//
//   ProgressDisplay progress("synth", quiet);
//   synthetic.progress = progress.step("generate");
//   writer.progress = progress.step("write");
//
// A step shows from its first callback and ends at its last (done == total); a step
// that starts ends one left open. Each line reads "<command>: <step>", the percentage,
// bytes done of the total, the rate, then the time left (or taken, on the last line);
// the fields have fixed widths. Three styles:
//   Bar    stderr is a terminal: one line per step, redrawn in place with '\r' (at most
//          ten times a second) and ended with a newline; the bar takes the width the
//          terminal leaves (none when too narrow):
//          synth: write [########..........]  45%  232.1 / 516.2 MiB   310.4 MiB/s  ETA 1 s
//   Lines  stderr is a file or a pipe: plain lines for logs, never '\r'. A step done
//          within a second prints nothing (quick commands keep stderr empty); a longer
//          one prints a line at each further 10% (at most one every 2 s, at least one
//          every 30 s) and a final line:
//          synth: write  87%  429.7 / 492.6 MiB   424.7 MiB/s  ETA 1 s
//          synth: write 100%  492.6 / 492.6 MiB   427.5 MiB/s  in 1.2 s
//   Off    --quiet: nothing.
#pragma once

#include "base/progress.hpp"

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace mmb::cli {

enum class ProgressStyle { Off, Bar, Lines };

// Off when quiet, else Bar when `stream` is a terminal, else Lines.
ProgressStyle progress_style_for(std::FILE* stream, bool quiet);

class ProgressDisplay {
 public:
  using Clock = std::function<double()>;  // monotonic seconds

  // On stderr, in progress_style_for(stderr, quiet). `command` ("synth", "bench load")
  // starts every line.
  ProgressDisplay(std::string command, bool quiet);
  // For tests: any stream, style and clock (empty: std::chrono::steady_clock).
  ProgressDisplay(std::string command, ProgressStyle style, std::FILE* out, Clock clock = {});
  // A bar still open (the command failed) ends with a newline, so the error message
  // starts a line of its own.
  ~ProgressDisplay();
  ProgressDisplay(const ProgressDisplay&) = delete;
  ProgressDisplay& operator=(const ProgressDisplay&) = delete;

  // A callback for one step of the command, named `name` ("write"), for the options of
  // the call that does the step; valid as long as the display. Null when the style is
  // Off. It never cancels (always returns true).
  ProgressFn* step(std::string name);

 private:
  struct Step;
  void update(Step& step, uint64_t done, uint64_t total);
  void end(Step& step, double now);
  std::string text(const Step& step, double now, bool final, size_t bar_width) const;
  void draw_bar(Step& step, double now, bool final);
  void print_line(Step& step, double now, bool final);

  std::string command_;
  ProgressStyle style_;
  std::FILE* out_;
  Clock clock_;
  size_t columns_ = 80;  // the terminal's width (Bar)
  std::vector<std::unique_ptr<Step>> steps_;
  Step* open_ = nullptr;  // the step shown now
};

}  // namespace mmb::cli
