#pragma once
// Download progress on stderr. At a terminal, one line per file redrawn in
// place: name, bar, bytes, rate and time left. Otherwise (a log, a pipe) one
// plain line when a file starts and one when it is done. Nothing when quiet.
#include "hub/download.h"

namespace ia::cli {

// `quiet` is read at every event, so it may point at a flag parsed later.
hub::ProgressFn download_progress(const bool* quiet);

}  // namespace ia::cli
