#include "server/static_files.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <system_error>

namespace netpulse::server {

namespace fs = std::filesystem;

void StaticFiles::mount(std::string url_prefix, fs::path dir) {
  std::error_code ec;
  fs::path canonical = fs::canonical(dir, ec);
  if (ec) canonical = dir;
  mounts_.push_back({std::move(url_prefix), std::move(canonical)});
  std::sort(mounts_.begin(), mounts_.end(),
            [](const Mount& a, const Mount& b) { return a.prefix.size() > b.prefix.size(); });
}

std::optional<fs::path> StaticFiles::resolve(std::string_view url_path) const {
  for (const Mount& m : mounts_) {
    if (url_path.substr(0, m.prefix.size()) != m.prefix) continue;
    std::string_view rest = url_path.substr(m.prefix.size());
    std::string relative(rest);
    if (relative.empty() || relative.back() == '/') relative += "index.html";
    // Refuse anything that is not a plain relative path of ordinary names: no "..", no hidden
    // files, no backslashes, no empty segments.
    size_t i = 0;
    while (i <= relative.size()) {
      const size_t slash = std::min(relative.find('/', i), relative.size());
      const std::string_view seg(relative.data() + i, slash - i);
      if (seg.empty() || seg.front() == '.' || seg.find('\\') != std::string_view::npos ||
          seg.find('\0') != std::string_view::npos)
        return std::nullopt;
      i = slash + 1;
    }
    // Then make sure symlinks do not lead out of the mounted directory.
    std::error_code ec;
    const fs::path file = fs::canonical(m.dir / relative, ec);
    if (ec) return std::nullopt;
    const auto [dir_end, file_it] =
        std::mismatch(m.dir.begin(), m.dir.end(), file.begin(), file.end());
    if (dir_end != m.dir.end()) return std::nullopt;
    if (!fs::is_regular_file(file, ec)) return std::nullopt;
    return file;
  }
  return std::nullopt;
}

Reply StaticFiles::serve(const Request& req) const {
  const auto file = resolve(req.path);
  if (!file) return Reply::error(404, "not found: " + req.path);
  std::ifstream in(*file, std::ios::binary);
  if (!in) return Reply::error(404, "not found: " + req.path);
  std::ostringstream body;
  body << in.rdbuf();
  Reply r;
  r.content_type = std::string(content_type_for(file->filename().string()));
  r.body = std::move(body).str();
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

std::string_view content_type_for(std::string_view name) {
  const size_t dot = name.rfind('.');
  const std::string_view ext =
      dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1);
  if (ext == "html" || ext == "htm") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "json" || ext == "map") return "application/json";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "png") return "image/png";
  if (ext == "ico") return "image/x-icon";
  if (ext == "txt") return "text/plain; charset=utf-8";
  if (ext == "woff2") return "font/woff2";
  return "application/octet-stream";
}

namespace {

bool has_index(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "index.html", ec);
}

fs::path executable_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path(ec) : exe.parent_path();
}

}  // namespace

std::optional<fs::path> find_web_root(const std::string& configured, std::string* why) {
  if (!configured.empty()) {
    if (has_index(configured)) return fs::path(configured);
    *why = "--web-root '" + configured + "': no index.html there";
    return std::nullopt;
  }
  if (const char* env = std::getenv("NETPULSE_WEB_ROOT"); env && *env) {
    if (has_index(env)) return fs::path(env);
    *why = std::string("NETPULSE_WEB_ROOT '") + env + "': no index.html there";
    return std::nullopt;
  }
  fs::path dir = executable_dir();
  for (int up = 0; up < 4 && !dir.empty(); ++up) {
    if (has_index(dir / "web")) return dir / "web";
    if (has_index(dir / "share/netpulse/web")) return dir / "share/netpulse/web";
    if (dir == dir.parent_path()) break;
    dir = dir.parent_path();
  }
  std::error_code ec;
  if (has_index(fs::current_path(ec) / "web")) return fs::current_path(ec) / "web";
  *why = "the dashboard files (web/index.html) were not found near the executable; use --web-root";
  return std::nullopt;
}

std::optional<fs::path> find_chart_library(const fs::path& web_root) {
  std::error_code ec;
  fs::path root = fs::weakly_canonical(web_root, ec);
  if (ec) root = web_root;
  for (const fs::path& base : {root, root.parent_path()}) {
    const fs::path dist = base / "node_modules/echarts/dist";
    if (fs::is_regular_file(dist / "echarts.min.js", ec)) return dist;
  }
  return std::nullopt;
}

}  // namespace netpulse::server
