// The dashboard's files: index, content types, and every way out of the web root refused.
#include "server/static_files.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace netpulse::server {
namespace {

namespace fs = std::filesystem;

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("netpulse-static-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "web/css");
    fs::create_directories(dir_ / "vendor");
    write(dir_ / "web/index.html", "<html>hi</html>");
    write(dir_ / "web/app.js", "1;");
    write(dir_ / "web/css/style.css", "body{}");
    write(dir_ / "web/.hidden", "no");
    write(dir_ / "secret.txt", "TOP-SECRET-CONTENT");
    write(dir_ / "vendor/lib.min.js", "lib");
    fs::create_symlink(dir_ / "secret.txt", dir_ / "web/link.txt");
    files_.mount("/", dir_ / "web");
    files_.mount("/vendor/lib/", dir_ / "vendor");
  }
  void TearDown() override { fs::remove_all(dir_); }

  static void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

  Reply get(const std::string& path) {
    Request r;
    r.path = path;
    return files_.serve(r);
  }

  fs::path dir_;
  StaticFiles files_;
};

TEST_F(StaticFilesTest, ServesFilesWithContentTypes) {
  Reply r = get("/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "<html>hi</html>");
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  r = get("/app.js");
  EXPECT_EQ(r.content_type, "text/javascript; charset=utf-8");
  r = get("/css/style.css");
  EXPECT_EQ(r.content_type, "text/css; charset=utf-8");
  r = get("/vendor/lib/lib.min.js");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "lib");
}

TEST_F(StaticFilesTest, RefusesTraversalHiddenFilesAndSymlinksOut) {
  for (const char* path :
       {"/../secret.txt", "/css/../../secret.txt", "/..", "/.hidden", "/link.txt",
        "/vendor/lib/../web/index.html", "/css//style.css", "/missing.html", "/css",
        "/app.js\\..\\x", "/vendor/lib/../../secret.txt"}) {
    const Reply r = get(path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.body.find("TOP-SECRET"), std::string::npos) << path;
  }
}

TEST(ContentType, ByExtension) {
  EXPECT_EQ(content_type_for("a.svg"), "image/svg+xml");
  EXPECT_EQ(content_type_for("a.json"), "application/json");
  EXPECT_EQ(content_type_for("a.png"), "image/png");
  EXPECT_EQ(content_type_for("README"), "application/octet-stream");
}

TEST(WebRoot, ConfiguredRootMustHoldIndex) {
  std::string why;
  EXPECT_FALSE(find_web_root("/nonexistent-dir", &why));
  EXPECT_NE(why.find("--web-root"), std::string::npos);
  const auto root = find_web_root(std::string(NETPULSE_SOURCE_DIR) + "/web", &why);
  ASSERT_TRUE(root) << why;
}

}  // namespace
}  // namespace netpulse::server
