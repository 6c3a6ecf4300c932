#include "store/json_text.hpp"

#include <gtest/gtest.h>

namespace netpulse::store {
namespace {

TEST(JsonText, MinifyKeepsStrings) {
  EXPECT_EQ(minify_json(R"( { "a b" : [ 1 , "x \" y" ] ,
                           "c":null } )"),
            R"({"a b":[1,"x \" y"],"c":null})");
  EXPECT_EQ(minify_json(R"({"T": 10, "k": 3})"), R"({"T":10,"k":3})");
}

TEST(JsonText, CanonicalObjectSortsLikeJsonb) {
  EXPECT_EQ(canonical_object(R"({ "k": 3, "T": 10 })"), R"({"T":10,"k":3})");
  EXPECT_EQ(canonical_object(R"({"X":2.50,"T":10})"), R"({"T":10,"X":2.50})");  // numbers verbatim
  // Shorter keys first, then bytes; nested values minified, not reordered.
  EXPECT_EQ(canonical_object(R"({"bb":1,"a":{"z":1, "y":2},"ab":[1, 2]})"),
            R"({"a":{"z":1,"y":2},"ab":[1,2],"bb":1})");
  EXPECT_EQ(canonical_object(R"({"k":1,"k":2})"), R"({"k":2})");  // the last one wins
  EXPECT_EQ(canonical_object(" {} "), "{}");
  EXPECT_EQ(canonical_object(R"({"a":"}","b":"{"})"), R"({"a":"}","b":"{"})");
}

TEST(JsonText, CanonicalObjectLeavesOtherTextAlone) {
  for (const char* text : {"[1,2]", "not json", R"({"a":1)", R"({"a" 1})", R"({"a":1}x)", "",
                           R"({"a":})", R"({"a":[1})"}) {
    EXPECT_EQ(canonical_object(text), text);
  }
}

}  // namespace
}  // namespace netpulse::store
