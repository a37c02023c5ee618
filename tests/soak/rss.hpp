// Resident set size of this process, from /proc/self/statm.
#pragma once

namespace mmb_soak {

// Megabytes resident now; 0 where /proc/self/statm cannot be read.
double rss_mb();

}  // namespace mmb_soak
