#include "stacker/stacker_file.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/file.hpp"

namespace mos::stacker {
namespace {

using testing::ElementsAre;
using testing::HasSubstr;

Result<StackerFile> parse(std::string_view text) {
  return parse_stacker_file(text, "/src/stacker.yaml");
}

std::string parse_error(std::string_view text) {
  auto file = parse(text);
  EXPECT_FALSE(file);
  return file ? std::string() : file.error().message;
}

TEST(Substitution, ValuesDefaultsAndEmptyDefaults) {
  Substitutions values{{"ZOT_VERSION", "2.0.0-rc5"}};
  EXPECT_EQ(substitute("v${{ZOT_VERSION}} ${{ROOTFS:v0.0.19}} [${{E:}}]", values, "f").value(),
            "v2.0.0-rc5 v0.0.19 []");
  // A given value wins over the default.
  EXPECT_EQ(substitute("${{ZOT_VERSION:1}}", values, "f").value(), "2.0.0-rc5");
  // Not placeholders: copied as they are.
  EXPECT_EQ(substitute("${1%/*} ${{}} $${{", values, "f").value(), "${1%/*} ${{}} $${{");
}

TEST(Substitution, MissingValueNamesTheLine) {
  auto r = substitute("a: 1\nb: ${{ROOTFS_VERSION}}\n", {}, "stacker.yaml");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message,
              HasSubstr("stacker.yaml:2: no value for substitution ROOTFS_VERSION"));
}

TEST(Substitution, ShellStyleUseOfAGivenKeyIsRefused) {
  Substitutions values{{"A", "1"}};
  EXPECT_THAT(substitute("x\nrun: echo $A\n", values, "f").error().message,
              HasSubstr("f:2: \"$A\" is shell syntax"));
  EXPECT_THAT(substitute("run: echo ${A}", values, "f").error().message, HasSubstr("${{A}}"));
  // A substring test, as stacker's: $ARCH contains $A.
  EXPECT_FALSE(substitute("run: echo $ARCH", values, "f"));
  EXPECT_TRUE(substitute("run: echo $B ${{A}}", values, "f"));
}

TEST(Substitution, FlagsWinOverFiles) {
  TempDir dir = TempDir::create().value();
  auto file = dir.path() / "subs.yaml";
  ASSERT_TRUE(write_file_atomic(file, "A: from-file\nB: b\n"));
  auto values = read_substitutions({"A=x=y,z"}, {file}).value();
  EXPECT_EQ(values["A"], "x=y,z");
  EXPECT_EQ(values["B"], "b");
  EXPECT_FALSE(read_substitutions({"=1"}, {}));
  EXPECT_FALSE(read_substitutions({"NOEQUALS"}, {}));
}

TEST(ShellWords, QuotesAndBackslashes) {
  EXPECT_THAT(split_shell_words("/usr/bin/zot serve '/etc/a b' \"x \\\"y\\\"\" c\\ d").value(),
              ElementsAre("/usr/bin/zot", "serve", "/etc/a b", "x \"y\"", "c d"));
  EXPECT_THAT(split_shell_words("''").value(), ElementsAre(""));
  EXPECT_FALSE(split_shell_words("'open"));
  EXPECT_FALSE(split_shell_words("\"open"));
  EXPECT_FALSE(split_shell_words("x\\"));
}

TEST(StackerFile, TheWalkthroughsFile) {
  auto file = parse(R"(install-base:
  build_only: true
  from:
    type: docker
    url: "docker://zothub.io/machine/bootkit/rootfs:v1-squashfs"
demo-zot:
  from:
    type: built
    tag: install-base
  import:
    - zot-config.json
    - https://github.com/project-zot/zot/releases/download/v2/zot-linux-amd64-minimal
  entrypoint: /usr/bin/start-zot
  run: |
    #!/bin/sh -ex
    cp /stacker/imports/zot-config.json /etc/
)")
                  .value();
  ASSERT_EQ(file.layers.size(), 2u);
  const auto& base = file.layers[0];
  EXPECT_TRUE(base.build_only);
  EXPECT_EQ(base.from.type, FromType::docker);
  const auto& zot = file.layers[1];
  EXPECT_EQ(zot.line, 6);
  EXPECT_EQ(zot.from.type, FromType::built);
  EXPECT_TRUE(zot.legacy_import);
  ASSERT_EQ(zot.imports.size(), 2u);
  EXPECT_EQ(zot.imports[0].path, "/src/zot-config.json");
  EXPECT_TRUE(zot.imports[1].is_url());
  EXPECT_THAT(*zot.entrypoint, ElementsAre("/usr/bin/start-zot"));
  EXPECT_THAT(zot.run, ElementsAre(testing::StartsWith("#!/bin/sh -ex\ncp")));
  EXPECT_THAT(zot.dependencies(), ElementsAre("install-base"));
}

TEST(StackerFile, ImportObjects) {
  auto file = parse(R"(a:
  from: {type: scratch}
  imports:
    - path: dir/
      dest: /x/
      mode: 0755
      uid: 3
      gid: 4
      hash: ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789
      perms: 0600
    - stacker://b/etc/passwd
b:
  from: {type: scratch}
)")
                  .value();
  const auto& i = file.layers[0].imports;
  EXPECT_EQ(i[0].path, "/src/dir/");
  EXPECT_EQ(i[0].dest, "/x/");
  EXPECT_EQ(i[0].mode, 0755u);
  EXPECT_EQ(i[0].uid, 3u);
  EXPECT_EQ(i[0].gid, 4u);
  EXPECT_EQ(i[0].hash, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
  // What stacker ignores is a warning.
  EXPECT_THAT(file.layers[0].warnings,
              ElementsAre(HasSubstr("stacker.yaml:10: unknown import key \"perms\"")));
  EXPECT_THAT(file.layers[0].dependencies(), ElementsAre("b"));
}

TEST(StackerFile, WhatStackerRejects) {
  EXPECT_THAT(parse_error("a:\n  from: {type: scratch}\n  runn: x\n"),
              HasSubstr("stacker.yaml:3:3: unknown directive \"runn\" in image a"));
  EXPECT_THAT(parse_error("a:\n  from: {type: built}\n"), HasSubstr("needs a tag"));
  EXPECT_THAT(parse_error("a:b:\n  from: {type: scratch}\n"), HasSubstr("contains ':'"));
  EXPECT_THAT(parse_error("a:\n  from: {type: scratch}\n  os: \"\"\n"),
              HasSubstr("os must not be empty"));
  EXPECT_THAT(parse_error("a:\n  from: {type: scratch}\na:\n  from: {type: scratch}\n"),
              HasSubstr("stacker.yaml:3:1: duplicate layer name a"));
  EXPECT_THAT(parse_error("a:\n  from: {type: scratch, url: x, bad: 1}\n"),
              HasSubstr("unknown key \"bad\" in from"));
  EXPECT_THAT(parse_error("a:\n  from: {type: nope}\n"), HasSubstr("is not one of"));
  EXPECT_THAT(parse_error("a:\n  from: {type: docker}\n"), HasSubstr("needs a url"));
  EXPECT_THAT(parse_error("a:\n  from: {type: scratch}\n  imports:\n    - {path: f, hash: xyz}\n"),
              HasSubstr("stacker.yaml:4:23: import hash \"xyz\" is not valid"));
  EXPECT_THAT(parse_error("a:\n  from: {type: scratch}\n  imports: [{path: f, dest: rel}]\n"),
              HasSubstr("must be an absolute path"));
  EXPECT_THAT(parse_error("a:\n  from: {type: scratch}\n  imports: [x]\n  import: [y]\n"),
              HasSubstr("both imports and import"));
  EXPECT_THAT(parse_error("a:\n  from: {type: scratch}\n  build_only: maybe\n"),
              HasSubstr("build_only must be true or false"));
  EXPECT_THAT(parse_error("a:\n  from: {type: scratch}\n  binds: [/does/not/exist/anywhere]\n"),
              HasSubstr("bind source /does/not/exist/anywhere does not exist"));
  EXPECT_THAT(parse_error("a:\n  from: [x\n"), HasSubstr("stacker.yaml:"));
  EXPECT_THAT(parse_error("- a\n"), HasSubstr("mapping of image names"));
}

TEST(StackerFile, CommandsAsStringOrList) {
  auto file = parse(R"(a:
  from: {type: scratch}
  cmd: "serve '/etc/a b'"
  entrypoint: [/bin/x, y]
  full_command: /bin/z
)")
                  .value();
  EXPECT_THAT(*file.layers[0].cmd, ElementsAre("serve", "/etc/a b"));
  EXPECT_THAT(*file.layers[0].entrypoint, ElementsAre("/bin/x", "y"));
  EXPECT_THAT(*file.layers[0].full_command, ElementsAre("/bin/z"));
}

TEST(BuildOrder, WaitsForBuiltAndStackerSources) {
  std::vector<StackerFile> files{parse(R"(child:
  from: {type: built, tag: parent}
  imports: [stacker://other/f]
parent:
  from: {type: scratch}
other:
  from: {type: scratch}
)")
                                     .value()};
  auto order = build_order(files).value();
  std::vector<std::string> names;
  for (const auto* l : order) names.push_back(l->name);
  EXPECT_THAT(names, ElementsAre("parent", "other", "child"));
}

TEST(BuildOrder, MissingImagesAndCyclesAreErrors) {
  std::vector<StackerFile> missing{parse("a:\n  from: {type: built, tag: nope}\n").value()};
  EXPECT_THAT(build_order(missing).error().message, HasSubstr("needs image nope"));
  std::vector<StackerFile> cycle{
      parse("a:\n  from: {type: built, tag: b}\nb:\n  from: {type: built, tag: a}\n").value()};
  EXPECT_THAT(build_order(cycle).error().message, HasSubstr("couldn't resolve some dependencies"));
}

TEST(LoadStackerFiles, PrerequisitesFirstAndNamesUnique) {
  TempDir dir = TempDir::create().value();
  ASSERT_TRUE(write_file_atomic(dir.path() / "base.yaml", "base:\n  from: {type: scratch}\n"));
  ASSERT_TRUE(
      write_file_atomic(dir.path() / "stacker.yaml",
                        "config:\n  prerequisites: [base.yaml]\ntop:\n  from: {type: built, "
                        "tag: base}\n"));
  auto files = load_stacker_files(dir.path() / "stacker.yaml", {}).value();
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].path.filename(), "base.yaml");
  EXPECT_EQ(build_order(files).value().size(), 2u);

  ASSERT_TRUE(write_file_atomic(dir.path() / "base.yaml", "top:\n  from: {type: scratch}\n"));
  EXPECT_THAT(load_stacker_files(dir.path() / "stacker.yaml", {}).error().message,
              HasSubstr("duplicate layer name top"));
  ASSERT_TRUE(
      write_file_atomic(dir.path() / "base.yaml", "config:\n  prerequisites: [stacker.yaml]\n"));
  EXPECT_THAT(load_stacker_files(dir.path() / "stacker.yaml", {}).error().message,
              HasSubstr("cycle"));
}

}  // namespace
}  // namespace mos::stacker
