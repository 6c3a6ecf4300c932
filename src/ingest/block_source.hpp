// Sources of raw input bytes, handed out as blocks of whole lines so that several threads can
// parse blocks independently: a regular file (read block by block by the threads that parse
// it, or mapped), a byte stream (stdin, a pipe, a TCP connection) read by a background thread,
// and a TCP listener that accepts many producers.
// next() is called from one thread at a time; the background readers are internal.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.hpp"
#include "ingest/uri.hpp"

namespace netpulse::ingest {

class OpenFile;

struct Block {
  const char* data = nullptr;
  size_t size = 0;
  std::shared_ptr<const void> owner;  // keeps the bytes alive while the block is in use
  bool mapped = false;  // a view into a mapped file: its pages may not be mapped in yet
  // A block not read yet (SourceOptions::deferred_reads): bytes [offset, offset + size) of a
  // regular file, data null until load() reads them; owner keeps the file open.
  OpenFile* file = nullptr;
  uint64_t offset = 0;
  // The bytes the owner keeps alive, when its source knows them (0: unknown; a stream's block
  // of a few kilobytes may hold a whole kBlockSize buffer). For budgets of queued blocks.
  size_t held = 0;
};

// Reads a deferred block's bytes into `buffer` on the calling thread and points the block at
// them; the block is then valid as long as the buffer is untouched. The buffer grows as needed,
// and one grown by a line of megabytes is let go at the next usual block. Does nothing to a
// block that has its bytes. A file that shrank under the reader (or an I/O
// error) shortens the block to what was read, and the source's error() then says so.
void load(Block& block, std::vector<char>& buffer);
// The same into a buffer of the block's own (its owner), for a block that outlives the call.
void load_owned(Block& block);

// Maps a mapped block's pages in with one system call instead of a page fault every 16 pages
// (each fault costs microseconds in a virtual machine). Called by the thread about to read it.
void prefault(const Block& block);

class BlockSource {
 public:
  enum class Next { kBlock, kTimeout, kEnd };
  virtual ~BlockSource() = default;
  // The next run of whole lines (the last block of a stream may end without '\n').
  // Waits up to `timeout` for data; kEnd once the input is exhausted.
  virtual Next next(Block& out, std::chrono::milliseconds timeout) = 0;
  // Stops reading new input (background readers stop, a listener stops accepting); next()
  // then returns everything already read (the queued blocks, and a partial last line as the
  // end of the stream would), then kEnd, without waiting for new input. The engine calls it on
  // a shutdown and drains the source, so a source that overrides nothing must end by itself.
  virtual void close() {}
  // A read error that ended the stream early (empty when none).
  virtual std::string error() const { return {}; }
  // A short description for messages ("file:flows.txt", "tcp-listen://127.0.0.1:9000").
  virtual std::string describe() const = 0;
  // True when all the input is already there (a file, bytes in memory): the engine may then
  // read a block ahead of the one it is adding to windows, which nobody can observe. A stream
  // says false: each block is taken in full, and its final windows emitted, before the next
  // one is read, so a window goes out as soon as its last record has arrived.
  virtual bool read_ahead_ok() const { return false; }
};

// Default size of a block handed to a parsing thread.
inline constexpr size_t kBlockSize = 1 << 20;

struct SourceOptions {
  size_t block_size = kBlockSize;
  // CSV over tcp-listen: every producer sends its own header line; the first connection's
  // header is passed on, the first line of each later connection is dropped.
  bool per_connection_header = false;
  // A regular file's blocks are handed out unread, for the consumer to load() on the thread that
  // parses each, into a buffer of its own (see FileSource in block_source.cpp); the engine
  // reads files this way with any number of threads. Otherwise (consumers that take a block's
  // bytes as they come) the file is mapped and blocks are views into it.
  bool deferred_reads = false;
};

// Opens an input, or says in one line naming the input why it cannot: an I/O error (a file
// missing or unreadable, a refused connection, a port taken) or an invalid argument (an input
// this function does not open: Kafka, flow exports and captures go elsewhere).
core::Result<std::unique_ptr<BlockSource>> open_source(const Uri& uri,
                                                       const SourceOptions& options);

// A source over bytes in memory, cut at line ends into blocks of about block_size (for tests).
std::unique_ptr<BlockSource> make_memory_source(std::string data, size_t block_size);

}  // namespace netpulse::ingest
