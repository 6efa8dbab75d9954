// dm-verity tree computation and userspace verification (see verity.hpp for the layout and why
// this is not libcryptsetup).
#include "image/verity.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <thread>

#include <openssl/evp.h>

#include "core/file.hpp"

namespace mos::image {
namespace {

constexpr std::size_t kDigestsPerBlock = kVerityBlockSize / kVerityDigestSize;  // 128
constexpr std::size_t kReadChunkBlocks =
    32;  // 128 KiB reads: the buffer stays in L2 between copy and hash

void put_le(std::string& out, std::size_t at, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out[at + i] = static_cast<char>((value >> (8 * i)) & 0xff);
}

std::uint64_t get_le(std::span<const std::byte> in, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(in[at + i]);
  return v;
}

// The SHA-256 implementation, fetched once: implicit fetches on every init cost a lock and a
// lookup per 4 KiB block.
const EVP_MD* sha256_md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

// Hashes salt ‖ block, as format version 1 defines every tree node.
class SaltedHasher {
 public:
  explicit SaltedHasher(std::span<const std::uint8_t> salt)
      : salt_(salt), ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {}
  SaltedHasher(const SaltedHasher&) = delete;
  SaltedHasher& operator=(const SaltedHasher&) = delete;
  bool ok() const { return ctx_ && sha256_md(); }
  bool hash(const std::uint8_t* block, std::uint8_t* out) {
    unsigned int len = 0;
    return EVP_DigestInit_ex2(ctx_.get(), sha256_md(), nullptr) == 1 &&
           EVP_DigestUpdate(ctx_.get(), salt_.data(), salt_.size()) == 1 &&
           EVP_DigestUpdate(ctx_.get(), block, kVerityBlockSize) == 1 &&
           EVP_DigestFinal_ex(ctx_.get(), out, &len) == 1;
  }

 private:
  std::span<const std::uint8_t> salt_;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx_;
};

Status pread_full(int fd, std::uint8_t* buffer, std::size_t size, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, buffer + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("reading at offset {}: {}", offset + done, errno_message(errno));
    if (n == 0)
      return fail("unexpected end of file at offset {} (expected {} more bytes)", offset + done,
                  size - done);
    done += static_cast<std::size_t>(n);
  }
  return {};
}

Status pwrite_full(int fd, const std::uint8_t* buffer, std::size_t size, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::pwrite(fd, buffer + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("writing at offset {}: {}", offset + done, errno_message(errno));
    done += static_cast<std::size_t>(n);
  }
  return {};
}

unsigned thread_count(unsigned requested, std::uint64_t blocks) {
  unsigned n = requested ? requested : std::max(1u, std::thread::hardware_concurrency());
  n = std::min(n, 16u);
  // Below a few MiB per thread, starting threads costs more than it saves.
  std::uint64_t useful = std::max<std::uint64_t>(1, blocks / 1024);
  return static_cast<unsigned>(std::min<std::uint64_t>(n, useful));
}

// Hashes data blocks [first, first+count) of fd into out (32 bytes each).
Status hash_data_range(int fd, std::uint64_t first, std::uint64_t count,
                       std::span<const std::uint8_t> salt, std::uint8_t* out) {
  SaltedHasher hasher(salt);
  if (!hasher.ok()) return fail("OpenSSL has no SHA-256");
  std::vector<std::uint8_t> buffer(kReadChunkBlocks * kVerityBlockSize);
  for (std::uint64_t done = 0; done < count;) {
    std::uint64_t n = std::min<std::uint64_t>(kReadChunkBlocks, count - done);
    MOS_TRY(pread_full(fd, buffer.data(), n * kVerityBlockSize, (first + done) * kVerityBlockSize));
    for (std::uint64_t i = 0; i < n; ++i) {
      if (!hasher.hash(buffer.data() + i * kVerityBlockSize, out + (done + i) * kVerityDigestSize))
        return fail("SHA-256 failed");
    }
    done += n;
  }
  return {};
}

// Every level of the tree, leaf first, each padded with zeros to whole blocks, and the root.
// The tree is 1/128 of the data (4 MiB for 512 MiB), so it is held in memory; the data is not.
struct Tree {
  std::vector<std::vector<std::uint8_t>> levels;
  Sha256Bytes root{};
};

Result<Tree> compute_tree(int fd, std::uint64_t data_blocks, std::span<const std::uint8_t> salt,
                          unsigned threads) {
  if (data_blocks == 0) return fail("no data blocks to hash");
  VerityGeometry geometry = verity_geometry(data_blocks * kVerityBlockSize, data_blocks);
  Tree tree;
  SaltedHasher hasher(salt);
  if (!hasher.ok()) return fail("OpenSSL has no SHA-256");
  if (geometry.level_blocks.empty()) {  // one data block: the root is its hash
    std::vector<std::uint8_t> block(kVerityBlockSize);
    MOS_TRY(pread_full(fd, block.data(), block.size(), 0));
    if (!hasher.hash(block.data(), tree.root.data())) return fail("SHA-256 failed");
    return tree;
  }
  // Leaf level: the data split into one contiguous range per thread.
  tree.levels.emplace_back(geometry.level_blocks[0] * kVerityBlockSize, 0);
  unsigned n = thread_count(threads, data_blocks);
  std::vector<Status> results(n);
  std::vector<std::thread> workers;
  std::uint64_t per = (data_blocks + n - 1) / n;
  for (unsigned t = 0; t < n; ++t) {
    std::uint64_t first = t * per;
    std::uint64_t count = first >= data_blocks ? 0 : std::min(per, data_blocks - first);
    std::uint8_t* out = tree.levels[0].data() + first * kVerityDigestSize;
    auto work = [&, t, first, count, out] {
      results[t] = hash_data_range(fd, first, count, salt, out);
    };
    if (t + 1 == n)
      work();
    else
      workers.emplace_back(work);
  }
  for (auto& w : workers) w.join();
  for (auto& r : results) MOS_TRY(r);
  // Upper levels hash the blocks of the level below (small: 1/128 of it each time).
  for (std::size_t level = 1; level < geometry.level_blocks.size(); ++level) {
    const auto& below = tree.levels[level - 1];
    std::vector<std::uint8_t> current(geometry.level_blocks[level] * kVerityBlockSize, 0);
    for (std::uint64_t b = 0; b < geometry.level_blocks[level - 1]; ++b) {
      if (!hasher.hash(below.data() + b * kVerityBlockSize, current.data() + b * kVerityDigestSize))
        return fail("SHA-256 failed");
    }
    tree.levels.push_back(std::move(current));
  }
  if (!hasher.hash(tree.levels.back().data(), tree.root.data())) return fail("SHA-256 failed");
  return tree;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::string encode_verity_superblock(const VeritySuperblock& sb) {
  std::string out(kVeritySuperblockSize, '\0');
  std::memcpy(out.data(), "verity\0\0", 8);
  put_le(out, 8, sb.version, 4);
  put_le(out, 12, sb.hash_type, 4);
  std::memcpy(out.data() + 16, sb.uuid.data(), 16);
  std::memcpy(out.data() + 32, sb.algorithm.data(), std::min<std::size_t>(sb.algorithm.size(), 31));
  put_le(out, 64, sb.data_block_size, 4);
  put_le(out, 68, sb.hash_block_size, 4);
  put_le(out, 72, sb.data_blocks, 8);
  std::size_t salt_size = std::min(sb.salt.size(), kVerityMaxSalt);
  put_le(out, 80, salt_size, 2);
  std::memcpy(out.data() + 88, sb.salt.data(), salt_size);
  return out;
}

Result<VeritySuperblock> parse_verity_superblock(std::span<const std::byte> in) {
  if (in.size() < kVeritySuperblockSize)
    return fail("verity superblock is {} bytes, expected {}", in.size(), kVeritySuperblockSize);
  if (std::memcmp(in.data(), "verity\0\0", 8) != 0)
    return fail("no verity superblock (signature \"verity\" missing)");
  VeritySuperblock sb;
  sb.version = static_cast<std::uint32_t>(get_le(in, 8, 4));
  sb.hash_type = static_cast<std::uint32_t>(get_le(in, 12, 4));
  std::memcpy(sb.uuid.data(), in.data() + 16, 16);
  const char* alg = reinterpret_cast<const char*>(in.data() + 32);
  sb.algorithm.assign(alg, strnlen(alg, 32));
  sb.data_block_size = static_cast<std::uint32_t>(get_le(in, 64, 4));
  sb.hash_block_size = static_cast<std::uint32_t>(get_le(in, 68, 4));
  sb.data_blocks = get_le(in, 72, 8);
  std::uint64_t salt_size = get_le(in, 80, 2);
  if (sb.version != 1)
    return fail("verity superblock version {} is not supported (expected 1)", sb.version);
  if (sb.hash_type != 1)
    return fail("verity hash type {} is not supported (expected 1)", sb.hash_type);
  if (sb.algorithm != "sha256")
    return fail("verity hash algorithm \"{}\" is not supported (expected sha256)", sb.algorithm);
  if (sb.data_block_size != kVerityBlockSize || sb.hash_block_size != kVerityBlockSize)
    return fail("verity block sizes {}/{} are not supported (expected 4096/4096)",
                sb.data_block_size, sb.hash_block_size);
  if (sb.data_blocks == 0 || sb.data_blocks > (std::uint64_t{1} << 40))
    return fail("verity superblock names {} data blocks", sb.data_blocks);
  if (salt_size > kVerityMaxSalt)
    return fail("verity salt size {} exceeds {}", salt_size, kVerityMaxSalt);
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(in.data());
  sb.salt.assign(bytes + 88, bytes + 88 + salt_size);
  auto nonzero = [&](std::size_t from, std::size_t to) {
    return std::any_of(bytes + from, bytes + to, [](std::uint8_t b) { return b != 0; });
  };
  if (nonzero(82, 88) || nonzero(88 + salt_size, kVeritySuperblockSize) ||
      nonzero(32 + sb.algorithm.size(), 64))
    return fail("verity superblock has non-zero padding");
  return sb;
}

std::uint64_t VerityGeometry::tree_bytes() const {
  std::uint64_t blocks = 0;
  for (auto b : level_blocks) blocks += b;
  return blocks * kVerityBlockSize;
}

VerityGeometry verity_geometry(std::uint64_t hash_offset, std::uint64_t data_blocks) {
  VerityGeometry g;
  g.hash_offset = hash_offset;
  g.data_blocks = data_blocks;
  g.tree_offset = (hash_offset + kVeritySuperblockSize + kVerityBlockSize - 1) / kVerityBlockSize *
                  kVerityBlockSize;
  // As veritysetup: one more level while (N-1) >> (7*levels) is non-zero.
  int levels = 0;
  while (data_blocks > 0 && 7 * levels < 64 && ((data_blocks - 1) >> (7 * levels)) != 0) ++levels;
  std::uint64_t n = data_blocks;
  for (int l = 0; l < levels; ++l) {
    n = (n + kDigestsPerBlock - 1) / kDigestsPerBlock;
    g.level_blocks.push_back(n);
  }
  return g;
}

VerityParams derived_verity_params(std::span<const std::uint8_t> content_digest) {
  auto derive = [&](std::string_view label) {
    Sha256Bytes out{};
    unsigned int len = 0;
    std::string input(label);
    input.append(reinterpret_cast<const char*>(content_digest.data()), content_digest.size());
    EVP_Digest(input.data(), input.size(), out.data(), &len, sha256_md(), nullptr);
    return out;
  };
  VerityParams p;
  auto salt = derive(std::string_view("mos verity salt\0", 16));
  p.salt.assign(salt.begin(), salt.end());
  auto uuid = derive(std::string_view("mos verity uuid\0", 16));
  std::copy_n(uuid.begin(), 16, p.uuid.begin());
  p.uuid[6] = static_cast<std::uint8_t>((p.uuid[6] & 0x0f) | 0x80);  // RFC 9562 version 8 (custom)
  p.uuid[8] = static_cast<std::uint8_t>((p.uuid[8] & 0x3f) | 0x80);  // RFC 4122 variant
  return p;
}

Result<Sha256Bytes> append_verity(const std::filesystem::path& file, std::uint64_t data_size,
                                  const VerityParams& params) {
  auto where = [&](Error e) {
    return context(fmt::format("appending verity data to {}", file.string()), std::move(e));
  };
  if (data_size == 0 || data_size % kVerityBlockSize != 0)
    return where(Error{fmt::format("data size {} is not a non-zero multiple of 4096", data_size)});
  if (params.salt.size() > kVerityMaxSalt) return where(Error{"salt longer than 256 bytes"});
  Fd fd{::open(file.c_str(), O_RDWR | O_CLOEXEC)};
  if (fd.fd < 0) return where(Error{errno_message(errno)});
  std::uint64_t blocks = data_size / kVerityBlockSize;
  auto tree = compute_tree(fd.fd, blocks, params.salt, params.threads);
  if (!tree) return where(tree.error());
  VerityGeometry g = verity_geometry(data_size, blocks);
  VeritySuperblock sb;
  sb.uuid = params.uuid;
  sb.data_blocks = blocks;
  sb.salt = params.salt;
  std::string head = encode_verity_superblock(sb);
  head.resize(g.tree_offset - g.hash_offset, '\0');
  auto write = [&]() -> Status {
    MOS_TRY(pwrite_full(fd.fd, reinterpret_cast<const std::uint8_t*>(head.data()), head.size(),
                        g.hash_offset));
    std::uint64_t at = g.tree_offset;
    for (auto level = tree->levels.rbegin(); level != tree->levels.rend();
         ++level) {  // top level first
      MOS_TRY(pwrite_full(fd.fd, level->data(), level->size(), at));
      at += level->size();
    }
    if (::ftruncate(fd.fd, static_cast<off_t>(at)) != 0)
      return fail("truncating: {}", errno_message(errno));
    return {};
  };
  if (auto s = write(); !s) return where(s.error());
  return tree->root;
}

Result<Sha256Bytes> compute_verity_root(int fd, std::uint64_t data_blocks,
                                        const VerityParams& params) {
  MOS_TRY_ASSIGN(auto tree, compute_tree(fd, data_blocks, params.salt, params.threads));
  return tree.root;
}

Status verify_verity_fd(int fd, std::uint64_t hash_offset, const Sha256Bytes& root_hash,
                        unsigned threads) {
  if (hash_offset == 0 || hash_offset % kVerityBlockSize != 0)
    return fail("verity hash offset {} is not a non-zero multiple of 4096", hash_offset);
  struct stat st{};
  if (::fstat(fd, &st) != 0) return fail("stat: {}", errno_message(errno));
  auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < hash_offset + kVerityBlockSize)
    return fail("no verity data: the file is {} bytes, the verity superblock would start at {}",
                size, hash_offset);
  std::vector<std::uint8_t> head(kVerityBlockSize);
  MOS_TRY(pread_full(fd, head.data(), head.size(), hash_offset));
  MOS_TRY_ASSIGN(auto sb, parse_verity_superblock(
                              std::as_bytes(std::span(head.data(), kVeritySuperblockSize))));
  if (sb.data_blocks * kVerityBlockSize != hash_offset)
    return fail("verity superblock covers {} data blocks, but the data area is {} blocks",
                sb.data_blocks, hash_offset / kVerityBlockSize);
  VerityGeometry g = verity_geometry(hash_offset, sb.data_blocks);
  if (size != g.end())
    return fail("file is {} bytes, expected {} (data, verity superblock and a {}-level hash tree)",
                size, g.end(), g.level_blocks.size());
  if (std::any_of(head.begin() + kVeritySuperblockSize, head.end(),
                  [](std::uint8_t b) { return b != 0; }))
    return fail("the bytes after the verity superblock are not zero");
  MOS_TRY_ASSIGN(auto tree, compute_tree(fd, sb.data_blocks, sb.salt, threads));
  // Compare the stored tree too, so that a flipped byte anywhere in it is reported (the kernel
  // would only notice when it reads that block).
  std::uint64_t at = g.tree_offset;
  std::vector<std::uint8_t> stored;
  for (std::size_t i = tree.levels.size(); i-- > 0;) {
    const auto& level = tree.levels[i];
    stored.resize(level.size());
    MOS_TRY(pread_full(fd, stored.data(), stored.size(), at));
    if (stored != level) {
      auto mismatch = std::mismatch(stored.begin(), stored.end(), level.begin());
      auto offset = at + static_cast<std::uint64_t>(mismatch.first - stored.begin());
      return fail(
          "verity hash tree level {} (of {}, leaf = 0) does not match the data at byte {}: data or "
          "hash tree "
          "modified",
          i, tree.levels.size(), offset);
    }
    at += level.size();
  }
  if (tree.root != root_hash)
    return fail("verity root hash is {}, expected {}: the layer was modified or rebuilt",
                hex_encode(tree.root), hex_encode(root_hash));
  return {};
}

Status verify_verity(const std::filesystem::path& file, std::uint64_t hash_offset,
                     const Sha256Bytes& root_hash, unsigned threads) {
  Fd fd{::open(file.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) return fail("opening {}: {}", file.string(), errno_message(errno));
  if (auto s = verify_verity_fd(fd.fd, hash_offset, root_hash, threads); !s)
    return context(fmt::format("verifying {}", file.string()), s.error());
  return {};
}

std::string hex_encode(std::span<const std::uint8_t> bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (auto b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

Result<Sha256Bytes> parse_root_hash(std::string_view hex) {
  if (hex.size() != 64) return fail("root hash \"{}\" is not 64 hex characters", hex);
  Sha256Bytes out{};
  for (std::size_t i = 0; i < 32; ++i) {
    auto nibble = [&](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return fail("root hash \"{}\" is not lowercase hex", hex);
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return out;
}

}  // namespace mos::image
