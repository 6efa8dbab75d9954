// Imports: local files and trees, URLs, stacker:// paths; hashes checked; staged for the build.
#include "stacker/import_staging.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "core/file.hpp"
#include "core/process.hpp"
#include "oci/digest.hpp"
#include "oci/http_transport.hpp"

namespace mos::stacker {
namespace {

namespace fs = std::filesystem;

constexpr int kMaxRedirects = 10;
constexpr std::size_t kToolOutput = 64 * 1024;

Result<std::string> file_sha256(const fs::path& path) {
  MOS_TRY_ASSIGN(auto digest, oci::digest_of_file(path));
  return digest.hex();
}

std::string basename_of(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// cp -a: owners (as root), modes, times, links and extended attributes, reflinked where the
// filesystem can.
Status copy_tree(const fs::path& from, const fs::path& to) {
  ProcessRun cp{.argv = {"cp", "-a", "--reflink=auto", from.string(), to.string()},
                .max_output = kToolOutput,
                .keep_tail = true,
                .merge_stderr = true};
  if (auto out = run_checked(cp); !out) return std::unexpected(out.error());
  return {};
}

// Downloads url into `file` (through a temporary beside it), following redirects.
Status download(const std::string& url, const fs::path& file) {
  oci::HttpSession session;
  std::string current = url;
  for (int hop = 0; hop <= kMaxRedirects; ++hop) {
    MOS_TRY_ASSIGN(auto writer, AtomicFileWriter::create(file, 0644));
    oci::TransportRequest request;
    request.url = current;
    request.on_body = [&](std::span<const std::byte> bytes) -> Status {
      return writer.write(bytes);
    };
    auto response = session.perform(request);
    if (!response) return fail("downloading {}: {}", url, response.error().message);
    if (response->status >= 300 && response->status < 400) {
      auto location = response->header("location");
      if (!location)
        return fail("downloading {}: redirect {} without a Location", url, response->status);
      MOS_TRY_ASSIGN(current, oci::resolve_url(current, *location));
      continue;
    }
    if (response->status != 200)
      return fail("downloading {}: the server answered HTTP {}", url, response->status);
    return writer.commit();
  }
  return fail("downloading {}: more than {} redirects", url, kMaxRedirects);
}

struct Source {
  fs::path path;          // local copy or original
  bool contents = false;  // "d/": the directory's contents, not the directory
};

Result<Source> local_source(const ImportSpec& spec, const LayerSpec& layer, const fs::path& stage,
                            std::size_t index, const ImportSources& sources) {
  auto where = [&](const Error& e) {
    return fail("{}:{}: image {}: import {}: {}", layer.file, spec.line, layer.name, spec.path,
                e.message);
  };
  if (spec.is_url() && sources.require_hash && !spec.hash)
    return where(Error{"has no hash, and --require-hash asks every URL import for one"});
  fs::path scratch =
      stage.parent_path() / fmt::format("{}-built-{}", stage.filename().string(), index);
  auto fetched = fetch_source(spec.path, spec.hash, scratch, sources);
  if (!fetched) return where(fetched.error());
  return Source{*fetched, !spec.is_url() && !spec.is_built() && spec.path.ends_with('/')};
}

}  // namespace

Result<fs::path> fetch_source(const std::string& source, const std::optional<std::string>& hash,
                              const fs::path& scratch, const ImportSources& sources) {
  if (source.starts_with("http://") || source.starts_with("https://")) {
    fs::path dir = sources.download_cache / oci::digest_of(source).hex();
    fs::path file = dir / basename_of(source.substr(0, source.find_first_of("?#")));
    std::error_code ec;
    bool cached = fs::is_regular_file(file, ec);
    if (cached && hash) {
      MOS_TRY_ASSIGN(auto have, file_sha256(file));
      cached = have == *hash;
    }
    if (!cached) {
      MOS_TRY(make_dirs(dir));
      spdlog::info("downloading {}", source);
      MOS_TRY(download(source, file));
    } else {
      spdlog::debug("{}: using the copy downloaded before", source);
    }
    return file;
  }
  if (source.starts_with("stacker://")) {
    std::string_view rest = std::string_view(source).substr(std::string_view("stacker://").size());
    auto slash = rest.find('/');
    if (slash == std::string_view::npos) return fail("expected stacker://IMAGE/PATH");
    std::error_code ec;
    fs::remove_all(scratch, ec);
    MOS_TRY(make_dirs(scratch));
    fs::path dest = scratch / basename_of(rest);
    if (!sources.from_built) return fail("no built images to copy from");
    MOS_TRY(sources.from_built(std::string(rest.substr(0, slash)), std::string(rest.substr(slash)),
                               dest));
    return dest;
  }
  if (source.find("://") != std::string::npos)
    return fail("expected a path, an http(s) URL or stacker://IMAGE/PATH");
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(source, ec))) return fail("does not exist");
  return fs::path(source);
}

Result<std::string> tree_fingerprint(const fs::path& path) {
  std::vector<fs::path> entries{path};
  std::error_code ec;
  if (fs::is_directory(fs::symlink_status(path, ec))) {
    for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::end(it);
         it.increment(ec))
      entries.push_back(it->path());
    if (ec) return fail("walking {}: {}", path.string(), ec.message());
  }
  std::sort(entries.begin(), entries.end());
  oci::Hasher hasher;
  for (const auto& entry : entries) {
    struct stat st{};
    if (::lstat(entry.c_str(), &st) != 0)
      return fail("reading {}: {}", entry.string(), errno_message(errno));
    std::string line = fmt::format("{}\0{:o} {} {} ", entry.lexically_relative(path).string(),
                                   st.st_mode, st.st_uid, st.st_gid);
    if (S_ISREG(st.st_mode)) {
      MOS_TRY_ASSIGN(auto sha, file_sha256(entry));
      line += sha;
    } else if (S_ISLNK(st.st_mode)) {
      line += fs::read_symlink(entry, ec).string();
    }
    hasher.update(line + "\n");
  }
  return hasher.finish().hex();
}

Result<StagedImports> stage_imports(const LayerSpec& layer, const fs::path& stage,
                                    const ImportSources& sources) {
  std::error_code ec;
  fs::remove_all(stage, ec);
  MOS_TRY(make_dirs(stage));
  StagedImports staged;
  staged.dir = stage;
  oci::Hasher fingerprint;
  for (std::size_t index = 0; index < layer.imports.size(); ++index) {
    const ImportSpec& spec = layer.imports[index];
    MOS_TRY_ASSIGN(auto source, local_source(spec, layer, stage, index, sources));
    bool is_dir = fs::is_directory(source.path, ec);
    if (spec.hash && !is_dir) {
      MOS_TRY_ASSIGN(auto have, file_sha256(source.path));
      if (have != *spec.hash)
        return fail(
            "{}:{}: image {}: import {}: hash does not match: the file's sha256 is {}, "
            "the stacker file says {}",
            layer.file, spec.line, layer.name, spec.path, have, *spec.hash);
    }
    MOS_TRY_ASSIGN(auto content, tree_fingerprint(source.path));
    fingerprint.update(fmt::format("{}|{}|{}|{}|{}|{}|{}\n", spec.path, spec.dest.value_or(""),
                                   spec.mode.value_or(0xffffffff), spec.uid.value_or(0xffffffff),
                                   spec.gid.value_or(0xffffffff), spec.hash.value_or(""), content));
    std::string name = basename_of(source.path.string());
    if (!spec.dest) {
      if (source.contents) {
        MOS_TRY(copy_tree(source.path / ".", stage));
      } else {
        MOS_TRY(copy_tree(source.path, stage / name));
      }
      continue;
    }
    fs::path tree =
        stage.parent_path() / fmt::format("{}-dest-{}", stage.filename().string(), index);
    fs::remove_all(tree, ec);
    const std::string& dest = *spec.dest;
    // stacker's rules: a dest ending in '/' receives the file or directory by its name, except
    // a directory's contents ("d/"), which land in it directly; any other dest is the new name.
    fs::path target = tree / fs::path(dest).relative_path();
    if (dest.ends_with('/') && !source.contents) target /= name;
    MOS_TRY(make_dirs(target.parent_path()));
    if (is_dir) {
      MOS_TRY(make_dirs(target));
      MOS_TRY(copy_tree(source.path / ".", target));
    } else {
      MOS_TRY(copy_tree(source.path, target));
    }
    if (spec.mode && ::chmod(target.c_str(), *spec.mode) != 0)
      return fail("setting the mode of {}: {}", target.string(), errno_message(errno));
    if ((spec.uid || spec.gid) &&
        ::lchown(target.c_str(), spec.uid ? *spec.uid : static_cast<uid_t>(-1),
                 spec.gid ? *spec.gid : static_cast<gid_t>(-1)) != 0)
      return fail("setting the owner of {}: {}", target.string(), errno_message(errno));
    staged.dest_trees.push_back(tree);
  }
  if (layer.legacy_import && ::symlink(".", (stage / "imports").c_str()) != 0 && errno != EEXIST)
    return fail("making {}/imports: {}", stage.string(), errno_message(errno));
  staged.fingerprint = fingerprint.finish().hex();
  return staged;
}

}  // namespace mos::stacker
