// StopMatcher: what it hands out concatenates to the text cut before the
// earliest stop string, however the text is split into deltas, and nothing
// that could still become a stop string is handed out early.
#include "runtime/stop_matcher.h"

#include <gtest/gtest.h>

#include <random>

#include "core/error.h"

namespace ia {
namespace {

struct Fed {
  std::vector<std::string> out;  // push() results, then finish()'s
  std::string text;
};

Fed feed(StopMatcher& m, const std::vector<std::string>& deltas) {
  Fed f;
  for (const auto& d : deltas) f.out.push_back(m.push(d));
  f.out.push_back(m.finish());
  for (const auto& o : f.out) f.text += o;
  return f;
}

TEST(StopMatcher, StopSpanningSeveralDeltas) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.push("abc ST"), "abc ");  // "ST" may be the start of "STOP"
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.push("O"), "");
  EXPECT_EQ(m.push("P and more"), "");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.match_offset(), 4u);
  EXPECT_EQ(m.push("later text"), "");
  EXPECT_EQ(m.finish(), "");
  EXPECT_EQ(m.emitted(), 4u);
}

TEST(StopMatcher, HeldTailIsReleasedWhenItStopsMatching) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.push("abc ST"), "abc ");
  EXPECT_EQ(m.push("OR"), "STOR");
  EXPECT_EQ(m.push("S"), "");
  EXPECT_EQ(m.push("T"), "");
  EXPECT_EQ(m.push("x"), "STx");
  EXPECT_EQ(m.push("S"), "");
  EXPECT_EQ(m.finish(), "S");  // the end of the text: nothing can follow
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.emitted(), 12u);
}

TEST(StopMatcher, OverlappingStopsCutAtTheEarliestStart) {
  StopMatcher a({"bc", "abcd"});
  EXPECT_EQ(feed(a, {"xab", "cd"}).text, "x");
  EXPECT_EQ(a.match_offset(), 1u);

  // A stop string that overlaps itself: "aab" inside "aaab" starts at 1.
  StopMatcher b({"aab"});
  EXPECT_EQ(feed(b, {"a", "a", "a", "b", "c"}).text, "a");
  EXPECT_EQ(b.match_offset(), 1u);

  // One stop string inside another, found in the same delta: the outer one
  // starts first.
  StopMatcher c({"world", "or"});
  EXPECT_EQ(feed(c, {"hello w", "orld"}).text, "hello ");
  EXPECT_EQ(c.match_offset(), 6u);
}

TEST(StopMatcher, StopAtTheVeryStart) {
  StopMatcher m({"<|end|>"});
  EXPECT_EQ(m.push("<|end|>rest"), "");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.match_offset(), 0u);

  StopMatcher split({"<|end|>"});
  EXPECT_EQ(feed(split, {"<|", "en", "d|", ">tail"}).text, "");
  EXPECT_EQ(split.match_offset(), 0u);
}

TEST(StopMatcher, SeveralStopStrings) {
  StopMatcher m({"\n\nUser:", "###", "</answer>"});
  const Fed f = feed(m, {"The answer", " is 42.", "\n", "\nUs", "er: next"});
  EXPECT_EQ(f.text, "The answer is 42.");
  EXPECT_EQ(m.match_offset(), 17u);
  // The first newline is held: it may begin "\n\nUser:".
  EXPECT_EQ(f.out[2], "");

  StopMatcher other({"\n\nUser:", "###", "</answer>"});
  EXPECT_EQ(feed(other, {"a #", "# b ##", "# c"}).text, "a ## b ");
}

TEST(StopMatcher, MultibyteStopsAndText) {
  const std::string nihongo = "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E";  // 日本語
  const std::string euro = "\xE2\x82\xAC";
  const std::string subscript_two = "\xE2\x82\x82";  // shares two bytes with €
  StopMatcher m({nihongo, euro});
  std::vector<std::string> chars = {"H",
                                    "\xC3\xA9",
                                    subscript_two,
                                    " ",
                                    "\xE6\x97\xA5",
                                    "\xE6\x9C\xAC",
                                    "!",
                                    "\xE6\x97\xA5",
                                    "\xE6\x9C\xAC",
                                    "\xE8\xAA\x9E",
                                    "x"};
  const Fed f = feed(m, chars);
  EXPECT_EQ(f.text, "H\xC3\xA9" + subscript_two + " \xE6\x97\xA5\xE6\x9C\xAC!");
  EXPECT_EQ(m.match_offset(), f.text.size());
  // Whole characters only: a held tail starts where a stop string starts.
  for (const auto& o : f.out)
    if (!o.empty()) {
      EXPECT_NE(static_cast<unsigned char>(o[0]) & 0xC0, 0x80) << o;
    }

  StopMatcher e({euro});
  EXPECT_EQ(feed(e, {"5", euro, "0"}).text, "5");
}

TEST(StopMatcher, NoStopStringsPassesEverythingThrough) {
  StopMatcher m({});
  EXPECT_EQ(m.push("abc"), "abc");
  EXPECT_EQ(m.push(""), "");
  EXPECT_EQ(m.finish(), "");
  EXPECT_FALSE(m.stopped());
}

TEST(StopMatcher, WouldStopChangesNothing) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.push("go ST"), "go ");
  EXPECT_TRUE(m.would_stop("OP"));
  EXPECT_FALSE(m.would_stop("OR"));
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.push("ORE"), "STORE");
}

TEST(StopMatcher, EmptyStopStringIsRefused) {
  try {
    StopMatcher m({"ok", ""});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
  }
}

// Any split of any text: generation stops at the first delta after which a
// stop string is in the text, cut before the earliest one found then (a stop
// string that starts earlier but is still incomplete does not count).
TEST(StopMatcher, RandomSplitsMatchASearchAfterEachDelta) {
  std::mt19937 rng(7);
  const std::string alphabet = "abc";
  auto random_string = [&](size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s += alphabet[rng() % alphabet.size()];
    return s;
  };
  for (int trial = 0; trial < 2000; ++trial) {
    std::vector<std::string> stops;
    for (size_t k = 1 + rng() % 3; k > 0; --k) stops.push_back(random_string(1 + rng() % 4));
    const std::string text = random_string(rng() % 30);
    std::vector<std::string> deltas;
    for (size_t i = 0; i < text.size();) {
      const size_t n = std::min(text.size() - i, size_t{rng() % 5});
      deltas.push_back(text.substr(i, n));
      i += n;
    }
    std::string so_far;
    size_t want = std::string::npos;
    for (const auto& d : deltas) {
      so_far += d;
      for (const auto& s : stops) want = std::min(want, so_far.find(s));
      if (want != std::string::npos) break;
    }
    want = std::min(want, text.size());
    StopMatcher m(stops);
    const Fed f = feed(m, deltas);
    ASSERT_EQ(f.text, text.substr(0, want))
        << "trial " << trial << " text " << text << " stops " << testing::PrintToString(stops) << " deltas "
        << testing::PrintToString(deltas);
    ASSERT_EQ(m.stopped(), want < text.size());
    if (m.stopped()) {
      ASSERT_EQ(m.match_offset(), want);
    }
  }
}

}  // namespace
}  // namespace ia
