#include "ingest/block_source.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>
#include <thread>
#include <vector>

#include "core/net.hpp"
#include "ingest/flow_parser.hpp"

namespace netpulse::ingest {

namespace {

// Cuts [data, data+size) into blocks of about block_size ending at line ends.
size_t cut_at_line_end(const char* data, size_t size, size_t block_size) {
  if (size <= block_size) return size;
  const void* nl = std::memchr(data + block_size, '\n', size - block_size);
  return nl ? static_cast<size_t>(static_cast<const char*>(nl) - data) + 1 : size;
}

class MemorySource final : public BlockSource {
 public:
  MemorySource(std::string data, size_t block_size)
      : data_(std::make_shared<std::string>(std::move(data))), block_size_(block_size) {}

  Next next(Block& out, std::chrono::milliseconds) override {
    if (pos_ >= data_->size() || closed_.load()) return Next::kEnd;
    const size_t n = cut_at_line_end(data_->data() + pos_, data_->size() - pos_, block_size_);
    out = Block{data_->data() + pos_, n, data_};
    pos_ += n;
    return Next::kBlock;
  }
  // Nothing is queued: the input ends at the block boundary.
  void close() override { closed_ = true; }
  std::string describe() const override { return "memory"; }
  bool read_ahead_ok() const override { return true; }

 private:
  std::shared_ptr<std::string> data_;
  size_t block_size_;
  size_t pos_ = 0;
  std::atomic<bool> closed_{false};
};

// A whole regular file, mapped once; blocks are views into the mapping (no copy). For
// consumers that take a block's bytes as they come (SourceOptions::deferred_reads unset); the
// engine reads files with FileSource.
class MmapSource final : public BlockSource {
 public:
  struct Mapping {
    void* addr = nullptr;
    size_t size = 0;
    ~Mapping() {
      if (addr) munmap(addr, size);
    }
  };

  // start: where the input begins in the file (stdin may have been read in part already).
  MmapSource(std::shared_ptr<Mapping> m, size_t block_size, std::string name, size_t start = 0)
      : map_(std::move(m)), block_size_(block_size), name_(std::move(name)), pos_(start) {}

  // Read pages leave this process's resident set (they stay in the page cache) a chunk at a
  // time: a file of any size is read with the memory of a few chunks. The block that crosses a
  // chunk boundary releases the whole chunk before it; releasing per block instead would cost
  // a TLB shootdown on every core each megabyte. A page released while another block still
  // reads it is only mapped again from the page cache.
  static constexpr size_t kReleaseChunk = size_t{32} << 20;
  struct Span {
    std::shared_ptr<Mapping> map;
    size_t begin, end;
    ~Span() {
      const size_t boundary = end / kReleaseChunk * kReleaseChunk;
      if (boundary <= begin || boundary < kReleaseChunk) return;
      ::madvise(static_cast<char*>(map->addr) + (boundary - kReleaseChunk), kReleaseChunk,
                MADV_DONTNEED);
    }
  };

  Next next(Block& out, std::chrono::milliseconds) override {
    const char* base = static_cast<const char*>(map_->addr);
    if (pos_ >= map_->size || closed_.load()) return Next::kEnd;
    const size_t n = cut_at_line_end(base + pos_, map_->size - pos_, block_size_);
    out = Block{base + pos_, n, std::make_shared<Span>(Span{map_, pos_, pos_ + n}), true};
    pos_ += n;
    return Next::kBlock;
  }
  // Nothing is queued: the input ends at the block boundary (Ctrl-C on a file stops reading).
  void close() override { closed_ = true; }
  std::string describe() const override { return name_; }
  bool read_ahead_ok() const override { return true; }

 private:
  std::shared_ptr<Mapping> map_;
  size_t block_size_;
  std::string name_;
  size_t pos_ = 0;
  std::atomic<bool> closed_{false};
};

}  // namespace

// A regular file read with pread by whoever parses its blocks. Blocks that threads read into
// their own buffers share nothing: a mapping (MmapSource) is one set of page tables for all of
// them, where each fault takes the process's page-table lock and releasing read pages flushes
// the TLB of every core running the process. Two engine threads ran about 4% faster on the
// issue-12 file reading it than mapping it (median of 15 alternated runs, 272 against 283 ms,
// 2026-12-05), with 25 MiB less peak memory. One thread too, since: 0.64 against 0.78 s
// (medians of 8 alternated runs, 2026-12-05 21:30 UTC; 93 against 118 MiB). The copy costs
// it 30 ms of CPU on that file; mapping cost more on this VM, where each page mapped in also
// costs the hypervisor a fault of its own (bench/page_cost.cpp), 60-80 ms for the file's
// 78,000 pages, and the pages are read from memory where a copied block is read from cache.
// (An earlier measurement, 3% the other way, was taken before the engine's buffers stopped
// churning.)
class OpenFile {
 public:
  OpenFile(int fd, bool owns) : fd_(fd), owns_(owns) {}
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  ~OpenFile() {
    if (owns_) ::close(fd_);
  }
  // Reads up to n bytes at offset, retrying interrupted and short reads; fewer only at the end
  // of the file or on an error, which is kept for error().
  size_t read(char* to, size_t n, uint64_t offset) {
    size_t got = 0;
    while (got < n) {
      const ssize_t r = ::pread(fd_, to + got, n - got, static_cast<off_t>(offset + got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        fail(std::string("read: ") + std::strerror(errno));
        break;
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    return got;
  }
  // The file's size now (0 when it cannot be told).
  uint64_t size_now() const {
    struct stat st {};
    return ::fstat(fd_, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  }
  void fail(std::string why) {
    std::lock_guard lock(mu_);
    if (error_.empty()) error_ = std::move(why);
  }
  std::string error() const {
    std::lock_guard lock(mu_);
    return error_;
  }

 private:
  int fd_;
  bool owns_;
  mutable std::mutex mu_;
  std::string error_;
};

void load(Block& block, std::vector<char>& buffer) {
  if (!block.file || block.data) return;
  if (buffer.size() > 4 * std::max(block.size, kBlockSize)) std::vector<char>().swap(buffer);
  // Some slack, so a block a line longer than the last does not reallocate.
  if (buffer.size() < block.size) buffer.resize(block.size + block.size / 16);
  size_t got = block.file->read(buffer.data(), block.size, block.offset);
  if (got < block.size) {
    block.file->fail("the file shrank while being read");
    // What was read ends inside a line the file no longer holds whole: drop that part of a
    // line rather than parse it (a byte count "1479" cut to "14" would pass as a record).
    const void* nl = ::memrchr(buffer.data(), '\n', got);
    got = nl ? static_cast<size_t>(static_cast<const char*>(nl) - buffer.data()) + 1 : 0;
  }
  block.data = buffer.data();
  block.size = got;
}

void load_owned(Block& block) {
  if (!block.file || block.data) return;
  auto bytes = std::make_shared<std::vector<char>>();
  load(block, *bytes);
  block.owner = std::move(bytes);
  block.file = nullptr;
}

namespace {

class FileSource final : public BlockSource {
 public:
  // start: where the input begins in the file (stdin may have been read in part already).
  FileSource(std::shared_ptr<OpenFile> file, uint64_t size, size_t block_size, std::string name,
             uint64_t start = 0)
      : file_(std::move(file)),
        size_(size),
        block_size_(block_size),
        name_(std::move(name)),
        pos_(start),
        probe_(64 << 10) {}

  Next next(Block& out, std::chrono::milliseconds) override {
    if (pos_ >= size_ || closed_.load()) return Next::kEnd;
    const uint64_t n = cut(pos_);
    if (n == 0) return Next::kEnd;  // the file ended early (error() says why)
    out = Block{};
    out.size = n;
    out.offset = pos_;
    out.file = file_.get();
    out.owner = file_;
    pos_ += n;
    return Next::kBlock;
  }
  void close() override { closed_ = true; }
  std::string error() const override { return file_->error(); }
  std::string describe() const override { return name_; }
  bool read_ahead_ok() const override { return true; }

 private:
  // The length of the block at `from`: block_size bytes, then on to the end of the line they
  // end in (read in small pieces here, on the engine's serial step: a page first, which holds a
  // line end but for very long lines; the block itself is read by the thread that parses it).
  uint64_t cut(uint64_t from) {
    if (size_ - from <= block_size_) return size_ - from;
    uint64_t at = from + block_size_;
    for (size_t piece = 4096; at < size_; piece = probe_.size()) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(piece, size_ - at));
      const size_t got = file_->read(probe_.data(), want, at);
      if (const void* nl = std::memchr(probe_.data(), '\n', got))
        return at + static_cast<uint64_t>(static_cast<const char*>(nl) - probe_.data()) + 1 - from;
      at += got;
      if (got < want) {
        // The file is shorter than when it was opened: the rest of it, up to its last whole
        // line (see load()), is the last block.
        file_->fail("the file shrank while being read");
        size_ = last_line_end(from, std::min(at, file_->size_now()));
        return size_ - from;
      }
    }
    return at - from;
  }

  // Just past the last '\n' in [from, to) (from when there is none), read backwards.
  uint64_t last_line_end(uint64_t from, uint64_t to) {
    for (uint64_t end = to; end > from;) {
      const uint64_t start = end - std::min<uint64_t>(probe_.size(), end - from);
      const size_t got = file_->read(probe_.data(), static_cast<size_t>(end - start), start);
      if (const void* nl = ::memrchr(probe_.data(), '\n', got))
        return start + static_cast<uint64_t>(static_cast<const char*>(nl) - probe_.data()) + 1;
      end = start;
    }
    return from;
  }

  std::shared_ptr<OpenFile> file_;
  uint64_t size_;
  size_t block_size_;
  std::string name_;
  uint64_t pos_;
  std::vector<char> probe_;
  std::atomic<bool> closed_{false};
};

// A bounded queue of blocks between reader threads and the pipeline; full means the readers
// stop reading, which is how a paused engine pushes back on a TCP producer.
class BlockQueue {
 public:
  explicit BlockQueue(size_t capacity) : capacity_(capacity) {}

  // Waits for room, then queues the block; once `stop` is set it queues at once, past the
  // capacity: the block holds bytes already taken from the input, and a stop must not lose
  // them (each reader adds at most its block in hand and its partial last line). False when
  // stopped: the reader should end.
  bool push(Block b, const std::atomic<bool>& stop) {
    std::unique_lock lock(mu_);
    while (q_.size() >= capacity_ && !stop.load()) not_full_.wait_for(lock, std::chrono::milliseconds(100));
    q_.push_back(std::move(b));
    not_empty_.notify_one();
    return !stop.load();
  }

  BlockSource::Next pop(Block& out, std::chrono::milliseconds timeout, bool producers_done) {
    std::unique_lock lock(mu_);
    if (q_.empty() && !producers_done_ && !producers_done)
      not_empty_.wait_for(lock, timeout, [&] { return !q_.empty() || producers_done_; });
    if (!q_.empty()) {
      out = std::move(q_.front());
      q_.pop_front();
      not_full_.notify_one();
      return BlockSource::Next::kBlock;
    }
    return (producers_done_ || producers_done) ? BlockSource::Next::kEnd : BlockSource::Next::kTimeout;
  }

  void set_done() {
    std::lock_guard lock(mu_);
    producers_done_ = true;
    not_empty_.notify_all();
  }
  void wake() { not_full_.notify_all(); not_empty_.notify_all(); }

 private:
  std::mutex mu_;
  std::condition_variable not_empty_, not_full_;
  std::deque<Block> q_;
  size_t capacity_;
  bool producers_done_ = false;
};

// Reusable read buffers, so a steady stream does not allocate (and fault in) a fresh megabyte
// per block.
class BufferPool : public std::enable_shared_from_this<BufferPool> {
 public:
  explicit BufferPool(size_t size) : size_(size) {}
  std::shared_ptr<std::vector<char>> get() {
    std::vector<char>* raw = nullptr;
    {
      std::lock_guard lock(mu_);
      if (!free_.empty()) {
        raw = free_.back();
        free_.pop_back();
      }
    }
    if (!raw) raw = new std::vector<char>(size_);
    std::weak_ptr<BufferPool> weak = shared_from_this();
    return std::shared_ptr<std::vector<char>>(raw, [weak](std::vector<char>* v) {
      if (auto pool = weak.lock()) {
        std::lock_guard lock(pool->mu_);
        if (pool->free_.size() < 32) {
          pool->free_.push_back(v);
          return;
        }
      }
      delete v;
    });
  }
  ~BufferPool() {
    for (auto* v : free_) delete v;
  }

 private:
  std::mutex mu_;
  std::vector<std::vector<char>*> free_;
  size_t size_;
};

// Reads one fd until EOF (or stop), pushing whole-line blocks into a queue. A line longer than
// a buffer is cut to kMaxLineLength + 2 bytes (so the parser reports it as too long even when
// the cut ends in a '\r' it takes for a line end) and the rest of it skipped. A stop ends the
// reading as the end of the input does: nothing more is read, and everything already read is
// queued, a partial last line included (the parser takes it as a line, complete or malformed,
// as it does at the end of a stream without a final '\n').
class LineReader {
 public:
  LineReader(int fd, BlockQueue& queue, std::shared_ptr<BufferPool> pool, size_t buffer_size,
             const std::atomic<bool>& stop, bool drop_first_line)
      : fd_(fd), queue_(queue), pool_(std::move(pool)), size_(buffer_size), stop_(stop),
        dropping_(drop_first_line) {}

  // Returns an error message, or empty at a clean EOF.
  std::string run() {
    auto buf = pool_->get();
    size_t used = 0;
    while (!stop_.load()) {
      pollfd pfd{fd_, POLLIN, 0};
      const int pr = ::poll(&pfd, 1, 100);
      if (pr < 0 && errno != EINTR) return std::string("poll: ") + std::strerror(errno);
      if (pr <= 0) continue;
      const ssize_t n = ::read(fd_, buf->data() + used, size_ - used);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        if (errno == ECONNRESET) break;
        return std::string("read: ") + std::strerror(errno);
      }
      if (n == 0) break;
      size_t start = used;
      used += static_cast<size_t>(n);
      char* data = buf->data();
      size_t begin = 0;
      if (skipping_ || dropping_) {
        // Discard up to and including the next '\n'.
        const void* nl = std::memchr(data + start, '\n', used - start);
        if (!nl) {
          used = 0;
          continue;
        }
        begin = static_cast<size_t>(static_cast<const char*>(nl) - data) + 1;
        skipping_ = dropping_ = false;
      }
      // The last '\n' in the buffer ends the block.
      size_t last = used;
      while (last > begin && data[last - 1] != '\n') --last;
      if (last > begin) {
        auto next = pool_->get();
        const size_t rest = used - last;
        std::memcpy(next->data(), data + last, rest);
        queue_.push(Block{data + begin, last - begin, buf}, stop_);  // on a stop the loop ends
        buf = std::move(next);
        used = rest;
      } else if (begin > 0) {
        std::memmove(data, data + begin, used - begin);
        used -= begin;
      } else if (used == size_) {
        // One line fills the buffer: pass on a cut, over-long version and skip the rest.
        auto next = pool_->get();
        data[kMaxLineLength + 2] = '\n';
        queue_.push(Block{data, kMaxLineLength + 3, buf}, stop_);
        buf = std::move(next);
        used = 0;
        skipping_ = true;
      }
    }
    if (used > 0 && !skipping_ && !dropping_) queue_.push(Block{buf->data(), used, buf}, stop_);
    return {};
  }

 private:
  int fd_;
  BlockQueue& queue_;
  std::shared_ptr<BufferPool> pool_;
  size_t size_;
  const std::atomic<bool>& stop_;
  bool dropping_;
  bool skipping_ = false;
};

// A single byte stream: stdin, a pipe, a FIFO, a TCP connection.
class StreamSource final : public BlockSource {
 public:
  StreamSource(int fd, bool owns_fd, size_t block_size, std::string name)
      : fd_(fd), owns_(owns_fd), queue_(8), pool_(std::make_shared<BufferPool>(std::max(block_size, 2 * kMaxLineLength + 2))),
        name_(std::move(name)) {
    const size_t size = std::max(block_size, 2 * kMaxLineLength + 2);
    thread_ = std::thread([this, size] {
      LineReader reader(fd_, queue_, pool_, size, stop_, false);
      std::string err = reader.run();
      {
        std::lock_guard lock(err_mu_);
        error_ = std::move(err);
      }
      queue_.set_done();
    });
  }
  ~StreamSource() override {
    close();
    if (owns_) ::close(fd_);
  }
  Next next(Block& out, std::chrono::milliseconds timeout) override {
    return queue_.pop(out, timeout, false);
  }
  void close() override {
    stop_ = true;
    queue_.wake();
    if (thread_.joinable()) thread_.join();
    queue_.set_done();
  }
  std::string error() const override {
    std::lock_guard lock(err_mu_);
    return error_;
  }
  std::string describe() const override { return name_; }

 private:
  int fd_;
  bool owns_;
  std::atomic<bool> stop_{false};
  BlockQueue queue_;
  std::shared_ptr<BufferPool> pool_;
  std::string name_;
  mutable std::mutex err_mu_;
  std::string error_;
  std::thread thread_;
};

// Accepts producers on a TCP port; each connection's lines join one stream (whole lines, in
// arrival order). Runs until close().
class ListenSource final : public BlockSource {
 public:
  ListenSource(int listen_fd, size_t block_size, bool per_connection_header, std::string name)
      : listen_fd_(listen_fd), size_(std::max(block_size, 2 * kMaxLineLength + 2)), queue_(16),
        pool_(std::make_shared<BufferPool>(size_)), header_(per_connection_header),
        name_(std::move(name)) {
    accept_thread_ = std::thread([this] { accept_loop(); });
  }
  ~ListenSource() override {
    close();
    ::close(listen_fd_);
  }
  Next next(Block& out, std::chrono::milliseconds timeout) override {
    return queue_.pop(out, timeout, false);
  }
  void close() override {
    stop_ = true;
    queue_.wake();
    if (accept_thread_.joinable()) accept_thread_.join();
    std::list<std::thread> readers;
    {
      std::lock_guard lock(mu_);
      readers.swap(readers_);
    }
    for (auto& t : readers) t.join();
    queue_.set_done();
  }
  std::string describe() const override { return name_; }

 private:
  void accept_loop() {
    bool first = true;
    while (!stop_.load()) {
      pollfd pfd{listen_fd_, POLLIN, 0};
      if (::poll(&pfd, 1, 100) <= 0) continue;
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      const bool drop = header_ && !first;
      first = false;
      std::lock_guard lock(mu_);
      readers_.emplace_back([this, fd, drop] {
        LineReader reader(fd, queue_, pool_, size_, stop_, drop);
        reader.run();  // a producer's read error ends only that producer
        ::close(fd);
      });
    }
  }

  int listen_fd_;
  size_t size_;
  std::atomic<bool> stop_{false};
  BlockQueue queue_;
  std::shared_ptr<BufferPool> pool_;
  bool header_;
  std::string name_;
  std::mutex mu_;
  std::list<std::thread> readers_;
  std::thread accept_thread_;
};

}  // namespace

core::Result<std::unique_ptr<BlockSource>> open_source(const Uri& uri,
                                                       const SourceOptions& options) {
  using core::Status;
  switch (uri.kind) {
    case Uri::Kind::kStdio: {
      struct stat st {};
      // A regular file is mapped from where stdin stands: an earlier reader (a shell's
      // `read`, `head`) may have consumed part of it.
      const off_t offset = ::lseek(0, 0, SEEK_CUR);
      if (::fstat(0, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && offset >= 0) {
        if (options.deferred_reads)
          return std::make_unique<FileSource>(std::make_shared<OpenFile>(0, false),
                                              static_cast<uint64_t>(st.st_size), options.block_size,
                                              "stdin", static_cast<uint64_t>(offset));
        auto m = std::make_shared<MmapSource::Mapping>();
        m->size = static_cast<size_t>(st.st_size);
        m->addr = ::mmap(nullptr, m->size, PROT_READ, MAP_PRIVATE, 0, 0);
        if (m->addr != MAP_FAILED) {
          ::madvise(m->addr, m->size, MADV_SEQUENTIAL);
          return std::make_unique<MmapSource>(std::move(m), options.block_size, "stdin",
                                              static_cast<size_t>(offset));
        }
        m->addr = nullptr;
      }
      return std::make_unique<StreamSource>(0, false, options.block_size, "stdin");
    }
    case Uri::Kind::kFile: {
      const int fd = ::open(uri.path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return Status::io_error(uri.path + ": " + std::strerror(errno));
      struct stat st {};
      if (::fstat(fd, &st) != 0) {
        Status failed = Status::io_error(uri.path + ": " + std::strerror(errno));
        ::close(fd);
        return failed;
      }
      if (S_ISDIR(st.st_mode)) {
        Status failed = Status::io_error(uri.path + ": is a directory");
        ::close(fd);
        return failed;
      }
      if (!S_ISREG(st.st_mode)) return std::make_unique<StreamSource>(fd, true, options.block_size, uri.text);
      if (options.deferred_reads)
        return std::make_unique<FileSource>(std::make_shared<OpenFile>(fd, true),
                                            static_cast<uint64_t>(st.st_size), options.block_size,
                                            uri.text);
      auto m = std::make_shared<MmapSource::Mapping>();
      m->size = static_cast<size_t>(st.st_size);
      if (m->size > 0) {
        m->addr = ::mmap(nullptr, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m->addr == MAP_FAILED) {
          m->addr = nullptr;
          Status failed = Status::io_error(uri.path + ": mmap: " + std::strerror(errno));
          ::close(fd);
          return failed;
        }
        ::madvise(m->addr, m->size, MADV_SEQUENTIAL);
      }
      ::close(fd);
      return std::make_unique<MmapSource>(std::move(m), options.block_size, uri.text);
    }
    case Uri::Kind::kTcp: {
      const core::Result<int> fd = core::connect_tcp(uri.host, uri.port, uri.text);
      if (!fd.ok()) return fd.status();
      return std::make_unique<StreamSource>(*fd, true, options.block_size, uri.text);
    }
    case Uri::Kind::kTcpListen: {
      const core::Result<int> fd = core::listen_tcp(uri.host, uri.port, uri.text);
      if (!fd.ok()) return fd.status();
      return std::make_unique<ListenSource>(*fd, options.block_size, options.per_connection_header,
                                            uri.text);
    }
    case Uri::Kind::kKafka:
      return Status::invalid_argument(uri.text +
                                      ": Kafka input is not built into this netpulse yet");
    case Uri::Kind::kNetflow:
    case Uri::Kind::kSflow:
    case Uri::Kind::kPcap:
    case Uri::Kind::kPcapLive:
      // Datagrams and packets, not text: the commands open these through collect::Collector
      // and capture::Capture.
      return Status::invalid_argument(uri.text + ": not an input of this command");
  }
  return Status::invalid_argument(uri.text + ": unsupported input");
}

std::unique_ptr<BlockSource> make_memory_source(std::string data, size_t block_size) {
  return std::make_unique<MemorySource>(std::move(data), block_size);
}

void prefault(const Block& block) {
#ifdef MADV_POPULATE_READ
  if (!block.mapped || block.size == 0) return;
  const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto from = reinterpret_cast<uintptr_t>(block.data) / page * page;
  const auto to = reinterpret_cast<uintptr_t>(block.data) + block.size;
  // Older kernels refuse the advice (EINVAL); the pages then fault in as they are read.
  ::madvise(reinterpret_cast<void*>(from), to - from, MADV_POPULATE_READ);
#else
  (void)block;
#endif
}

}  // namespace netpulse::ingest
