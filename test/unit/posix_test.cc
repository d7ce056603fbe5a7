#include "cdc/common/posix.h"

#include <errno.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

#include "cdc/common/clock.h"

namespace cdc {
namespace {

bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

// A fresh directory under the system's temporary directory, removed at the
// end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "posix_test.XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(FdTest, ClosesOnDestruction) {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  {
    Fd fd(raw);
    EXPECT_EQ(fd.get(), raw);
    EXPECT_TRUE(fd.valid());
    EXPECT_TRUE(IsOpen(raw));
  }
  EXPECT_FALSE(IsOpen(raw));
}

TEST(FdTest, ReleaseGivesUpOwnershipAndResetCloses) {
  const int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  {
    Fd fd(raw);
    EXPECT_EQ(fd.release(), raw);
    EXPECT_FALSE(fd.valid());
  }
  EXPECT_TRUE(IsOpen(raw));
  Fd fd(raw);
  fd.reset();
  EXPECT_FALSE(IsOpen(raw));
  EXPECT_EQ(fd.get(), -1);
}

TEST(FdTest, MoveTransfersOwnership) {
  const int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  {
    Fd a(raw);
    Fd b(std::move(a));
    EXPECT_EQ(a.get(), -1);  // NOLINT(bugprone-use-after-move)
    EXPECT_EQ(b.get(), raw);
    Fd c;
    c = std::move(b);
    EXPECT_EQ(c.get(), raw);
    EXPECT_TRUE(IsOpen(raw));
  }
  EXPECT_FALSE(IsOpen(raw));
}

TEST(WriteAllTest, WritesEverything) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  Fd read_end(fds[0]);
  Fd write_end(fds[1]);
  // Larger than one write to a pipe usually takes, smaller than its buffer.
  const std::string data(40000, 'x');
  int err = 0;
  ASSERT_TRUE(WriteAll(write_end.get(), data, &err));
  write_end.reset();
  std::string got;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(read_end.get(), buf, sizeof buf)) > 0) {
    got.append(buf, static_cast<std::size_t>(n));
  }
  EXPECT_EQ(got, data);
}

TEST(WriteAllTest, ReportsTheErrno) {
  int err = 0;
  EXPECT_FALSE(WriteAll(-1, "x", &err));
  EXPECT_EQ(err, EBADF);
}

TEST(MakeDirectoriesTest, CreatesEachComponentWithMode0750) {
  TempDir tmp;
  const mode_t old_umask = ::umask(0077);  // must not narrow the mode
  std::string why;
  const bool ok = MakeDirectories(tmp.path() + "/a/b/c", &why);
  ::umask(old_umask);
  ASSERT_TRUE(ok) << why;
  EXPECT_EQ(ModeOf(tmp.path() + "/a"), 0750u);
  EXPECT_EQ(ModeOf(tmp.path() + "/a/b"), 0750u);
  EXPECT_EQ(ModeOf(tmp.path() + "/a/b/c"), 0750u);
  // Existing directories are fine, and trailing or doubled slashes too.
  EXPECT_TRUE(MakeDirectories(tmp.path() + "//a/b/c/", &why)) << why;
}

TEST(MakeDirectoriesTest, FailsOnAFileInTheWay) {
  TempDir tmp;
  const std::string file = tmp.path() + "/file";
  std::ofstream(file) << "x";
  std::string why;
  EXPECT_FALSE(MakeDirectories(file + "/sub", &why));
  EXPECT_EQ(why, "cannot create directory " + file +
                     ": exists and is not a directory");
}

TEST(MakeDirectoriesTest, FailsWithTheErrnoText) {
  TempDir tmp;
  ASSERT_EQ(::chmod(tmp.path().c_str(), 0500), 0);
  std::string why;
  const bool ok = MakeDirectories(tmp.path() + "/sub", &why);
  ::chmod(tmp.path().c_str(), 0700);
  if (::geteuid() == 0) GTEST_SKIP() << "root may write anywhere";
  EXPECT_FALSE(ok);
  EXPECT_EQ(
      why, "cannot create directory " + tmp.path() + "/sub: Permission denied");
}

TEST(MakeDirectoriesTest, EmptyPathFails) {
  std::string why;
  EXPECT_FALSE(MakeDirectories("", &why));
  EXPECT_EQ(why, "directory path is empty");
}

TEST(ErrnoTextTest, NamesTheError) {
  EXPECT_EQ(ErrnoText(ENOENT), "No such file or directory");
}

TEST(FormatUtcTest, FormatsAKnownTime) {
  const WallClock::time_point t =
      WallClock::time_point(std::chrono::seconds(1700000000)) +
      std::chrono::milliseconds(987);
  EXPECT_EQ(FormatUtc(t, "%Y-%m-%dT%H:%M:%SZ"), "2023-11-14T22:13:20Z");
  EXPECT_EQ(FormatUtc(t, "%Y%m%dT%H%M%SZ"), "20231114T221320Z");
  EXPECT_EQ(FormatUtcMillis(t), "2023-11-14T22:13:20.987Z");
}

TEST(ClockTest, UnixSeconds) {
  const WallClock::time_point t =
      WallClock::time_point(std::chrono::milliseconds(1700000000250));
  EXPECT_DOUBLE_EQ(UnixSeconds(t), 1700000000.25);
  EXPECT_GT(WallSeconds(), 1700000000.0);
}

TEST(SpawnTest, ActionsAndAttributesInitialise) {
  SpawnFileActions fa;
  SpawnAttr attr;
  EXPECT_TRUE(fa.ok());
  EXPECT_TRUE(attr.ok());
  EXPECT_EQ(posix_spawn_file_actions_addclose(fa.get(), 0), 0);
  EXPECT_EQ(posix_spawnattr_setflags(attr.get(), POSIX_SPAWN_SETPGROUP), 0);
}

}  // namespace
}  // namespace cdc
