// LayoutRoot: a zot-shaped root directory with one OCI image layout per repository.
#include <algorithm>

#include "oci/layout_store.hpp"
#include "oci/reference.hpp"

namespace mos::oci {

Result<LayoutRoot> LayoutRoot::open(const fs::path& root, bool create) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    if (!create)
      return fail("registry root {} does not exist or is not a directory", root.string());
    MOS_TRY(make_dirs(root));
  }
  return LayoutRoot(root);
}

bool LayoutRoot::has_repository(std::string_view name) const {
  if (!is_valid_repository_name(name)) return false;
  std::error_code ec;
  fs::path dir = root_ / std::string(name);
  return fs::is_regular_file(dir / "oci-layout", ec) && fs::is_regular_file(dir / "index.json", ec);
}

Result<std::unique_ptr<LayoutStore>> LayoutRoot::repository(std::string_view name, bool create) {
  // The grammar excludes "..", "." components, absolute paths and empty components.
  if (!is_valid_repository_name(name))
    return fail(
        "invalid repository name \"{}\": names are lowercase path components "
        "[a-z0-9]+((.|_|__|-+)[a-z0-9]+)* separated by /",
        name);
  fs::path dir = root_ / std::string(name);
  if (create && !has_repository(name)) {
    // A repository must not live inside another one's layout (e.g. "a/blobs" when "a" exists),
    // nor contain one at its blobs/ directory.
    std::error_code ec;
    fs::path parent = root_;
    std::string_view rest = name;
    while (true) {
      auto slash = rest.find('/');
      if (slash == std::string_view::npos) break;
      parent /= std::string(rest.substr(0, slash));
      rest.remove_prefix(slash + 1);
      if (fs::exists(parent / "oci-layout", ec))
        return fail("cannot create repository \"{}\": {} is already a repository", name,
                    fs::relative(parent, root_, ec).string());
    }
    if (fs::exists(dir / "blobs" / "oci-layout", ec))
      return fail("cannot create repository \"{}\": {}/blobs is already a repository", name, name);
  }
  return LayoutStore::open(dir, create);
}

Result<std::vector<std::string>> LayoutRoot::catalog() const {
  std::vector<std::string> names;
  std::error_code ec;
  fs::recursive_directory_iterator it(root_, fs::directory_options::skip_permission_denied, ec);
  if (ec) return fail("cannot list registry root {}: {}", root_.string(), ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return fail("cannot list registry root {}: {}", root_.string(), ec.message());
    if (!it->is_directory(ec)) continue;
    auto file = it->path().filename().string();
    // Hidden directories (.uploads, .referrers) and blob stores hold no repositories.
    if (file.starts_with(".") || file == "blobs") {
      it.disable_recursion_pending();
      continue;
    }
    if (fs::is_regular_file(it->path() / "oci-layout", ec) &&
        fs::is_regular_file(it->path() / "index.json", ec)) {
      auto name = fs::relative(it->path(), root_, ec).generic_string();
      if (is_valid_repository_name(name)) names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace mos::oci
