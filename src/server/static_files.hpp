// Serves the dashboard's files from disk: URL prefixes mounted on directories ("/" on web/,
// "/vendor/echarts/" on the chart library's dist/). A path that leaves its directory (.., a
// symlink out, an encoded slash or NUL) is refused with 404; content types come from the file
// extension. Immutable after set-up; thread-safe.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/reply.hpp"
#include "server/request.hpp"

namespace netpulse::server {

class StaticFiles {
 public:
  // Mounts dir at url_prefix (which starts and ends with '/'). Longer prefixes win.
  void mount(std::string url_prefix, std::filesystem::path dir);

  // The file for a decoded URL path, or nullopt when none may be served. "/" and paths ending
  // in '/' mean index.html.
  std::optional<std::filesystem::path> resolve(std::string_view url_path) const;

  Reply serve(const Request& req) const;

 private:
  struct Mount {
    std::string prefix;
    std::filesystem::path dir;  // canonical
  };
  std::vector<Mount> mounts_;
};

// "text/html; charset=utf-8" etc. for a file name; application/octet-stream when unknown.
std::string_view content_type_for(std::string_view filename);

// Finds the dashboard's directory: `configured` if given (it must hold index.html), else
// $NETPULSE_WEB_ROOT, else web/ beside the executable or in one of its parent directories
// (a build tree inside the repository), else ./web. Returns nullopt with a reason.
std::optional<std::filesystem::path> find_web_root(const std::string& configured, std::string* why);

// The chart library's directory for a web root: node_modules/echarts/dist next to the web
// root or one level up (the repository root holds package.json). nullopt when not installed.
std::optional<std::filesystem::path> find_chart_library(const std::filesystem::path& web_root);

}  // namespace netpulse::server
