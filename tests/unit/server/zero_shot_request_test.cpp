// The zero-shot classification request parsers (server/zero_shot_request.h): the hypothesis
// template as Python's str.format fills it, the JSON and multipart shapes of both routes, and
// every refusal a 400 naming the field.
#include "server/zero_shot_request.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/base64.h"
#include "server/api_error.h"

namespace ia::server {
namespace {

using nlohmann::json;

// The ApiError `fn` throws.
template <class Fn>
ApiError refusal(Fn&& fn) {
  try {
    fn();
  } catch (const ApiError& e) {
    return e;
  }
  ADD_FAILURE() << "accepted";
  return ApiError(0, "", "", "");
}

std::string url(const std::string& type, const std::string& bytes) {
  return "data:" + type + ";base64," + base64_encode(bytes);
}

const std::string kPng = url("image/png", "png bytes"), kMp4 = url("video/mp4", "mp4 bytes");

json body(json inputs, json labels = json::array({"cat", "dog"})) {
  return json{{"inputs", std::move(inputs)}, {"parameters", {{"candidate_labels", std::move(labels)}}}};
}

TEST(ZeroShotRequest, HypothesisTemplateAsPythonFormats) {
  EXPECT_EQ(format_hypothesis("This is a photo of {}.", "cat", "t"), "This is a photo of cat.");
  EXPECT_EQ(format_hypothesis("{}", "a {} b", "t"), "a {} b");  // the label is not a template
  EXPECT_EQ(format_hypothesis("{0} and {0}", "x", "t"), "x and x");
  EXPECT_EQ(format_hypothesis("{{literal}} {}", "x", "t"), "{literal} x");
  EXPECT_EQ(format_hypothesis("é {} ü", "猫", "t"), "é 猫 ü");
  // What str.format refuses (or what would make every label the same text) is a 400.
  for (const char* bad :
       {"no field", "{} and {}", "{} {0}", "{label}", "{1}", "{:>5}", "{0!r}", "a { b", "a } b", "{"}) {
    const ApiError e = refusal([&] { format_hypothesis(bad, "x", "parameters.hypothesis_template"); });
    EXPECT_EQ(e.status(), 400) << bad;
    EXPECT_EQ(e.param(), "parameters.hypothesis_template") << bad;
  }
  ZeroShotParameters p{{"cat", "dog"}, "a photo of a {}"};
  EXPECT_EQ(hypotheses(p), (std::vector<std::string>{"a photo of a cat", "a photo of a dog"}));
}

TEST(ZeroShotRequest, ImageJsonShapes) {
  RequestLimits limits;
  auto r = parse_zero_shot_image_json(body(kPng).dump(), limits);
  EXPECT_EQ(r.images.images, std::vector<std::string>{"png bytes"});
  EXPECT_FALSE(r.images.batch);
  EXPECT_EQ(r.parameters.candidate_labels, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(r.parameters.hypothesis_template, "This is a photo of {}.");  // transformers' default
  json j = body(json::array({kPng, kPng}));
  j["model"] = "clip";
  j["parameters"]["hypothesis_template"] = "a {} photo";
  r = parse_zero_shot_image_json(j.dump(), limits);
  EXPECT_TRUE(r.images.batch);
  EXPECT_EQ(r.images.images.size(), 2u);
  EXPECT_EQ(r.images.model, "clip");
  EXPECT_EQ(r.parameters.hypothesis_template, "a {} photo");
}

TEST(ZeroShotRequest, LabelRefusalsNameTheField) {
  RequestLimits limits;
  limits.max_labels = 3;
  limits.max_label_bytes = 8;
  struct Case {
    json body;
    std::string param;
  };
  json top_level = {{"inputs", kPng}, {"candidate_labels", {"a"}}};
  json no_params = {{"inputs", kPng}};
  json params_not_object = {{"inputs", kPng}, {"parameters", "cat,dog"}};
  json bad_template = body(kPng);
  bad_template["parameters"]["hypothesis_template"] = "no field";
  json template_not_string = body(kPng);
  template_not_string["parameters"]["hypothesis_template"] = 3;
  for (const Case& c : std::vector<Case>{
           {body(kPng, json::array()), "parameters.candidate_labels"},
           {body(kPng, "cat,dog"), "parameters.candidate_labels"},
           {body(kPng, json::array({"cat", ""})), "parameters.candidate_labels[1]"},
           {body(kPng, json::array({"cat", 7})), "parameters.candidate_labels[1]"},
           {body(kPng, json::array({json::array({"cat"})})), "parameters.candidate_labels[0]"},
           {body(kPng, json::array({"a", "b", "c", "d"})), "parameters.candidate_labels"},
           {body(kPng, json::array({"123456789"})), "parameters.candidate_labels[0]"},
           {top_level, "parameters.candidate_labels"},
           {no_params, "parameters.candidate_labels"},
           {params_not_object, "parameters"},
           {bad_template, "parameters.hypothesis_template"},
           {template_not_string, "parameters.hypothesis_template"},
           {body("https://example.com/cat.png"), "inputs"},
           {body(json::array()), "inputs"},
           {body(json::array({kPng, 3})), "inputs[1]"},
       }) {
    const ApiError e = refusal([&] { parse_zero_shot_image_json(c.body.dump(), limits); });
    EXPECT_EQ(e.status(), 400) << c.body.dump();
    EXPECT_EQ(e.param(), c.param) << c.body.dump() << ": " << e.what();
  }
  EXPECT_NE(std::string(refusal([&] { parse_zero_shot_image_json(top_level.dump(), limits); }).what())
                .find("inside `parameters`"),
            std::string::npos);
  EXPECT_EQ(refusal([&] { parse_zero_shot_image_json("[1]", limits); }).code(), "invalid_json");
}

TEST(ZeroShotRequest, ImageForm) {
  RequestLimits limits;
  std::vector<FormPart> parts{{"model", std::nullopt, "", "clip"},
                              {"file", "a.png", "image/png", "png bytes"},
                              {"candidate_labels", std::nullopt, "", R"( ["a cat", "a, dog"])"},
                              {"candidate_labels", std::nullopt, "", "car"},
                              {"candidate_labels[]", std::nullopt, "", "[bus"},  // not JSON: refused
                              {"other", std::nullopt, "", "ignored"}};
  EXPECT_EQ(refusal([&] { parse_zero_shot_image_form(parts, limits); }).param(), "candidate_labels");
  parts[4].data = "bus";
  parts.push_back({"hypothesis_template", std::nullopt, "", "{}!"});
  const auto r = parse_zero_shot_image_form(parts, limits);
  EXPECT_EQ(r.images.model, "clip");
  EXPECT_EQ(r.images.names, std::vector<std::string>{"a.png"});
  EXPECT_EQ(r.parameters.candidate_labels, (std::vector<std::string>{"a cat", "a, dog", "car", "bus"}));
  EXPECT_EQ(r.parameters.hypothesis_template, "{}!");
  // No labels, an empty one, a JSON list holding a number, a template without its field, no file.
  using Parts = std::vector<FormPart>;
  const FormPart file{"file", "a.png", "image/png", "png bytes"};
  for (const auto& c : std::vector<std::pair<Parts, std::string>>{
           {Parts{file}, "candidate_labels"},
           {Parts{file, {"candidate_labels", std::nullopt, "", ""}}, "candidate_labels"},
           {Parts{file, {"candidate_labels", std::nullopt, "", "[\"a\", 1]"}}, "candidate_labels[1]"},
           {Parts{file, {"candidate_labels", std::nullopt, "", "a"}, {"hypothesis_template", std::nullopt, "", "x"}},
            "hypothesis_template"},
           {Parts{{"candidate_labels", std::nullopt, "", "a"}}, "file"},
       }) {
    const ApiError e = refusal([&] { parse_zero_shot_image_form(c.first, limits); });
    EXPECT_EQ(e.status(), 400);
    EXPECT_EQ(e.param(), c.second) << e.what();
  }
}

TEST(ZeroShotRequest, VideoJsonShapes) {
  RequestLimits limits;
  // A video file as a data URL.
  auto r = parse_zero_shot_video_json(body(kMp4).dump(), limits);
  ASSERT_EQ(r.videos.size(), 1u);
  EXPECT_FALSE(r.videos[0].is_frames());
  EXPECT_EQ(r.videos[0].file, "mp4 bytes");
  EXPECT_FALSE(r.batch);
  EXPECT_EQ(r.parameters.hypothesis_template, "{}");  // the video route's default: the label itself
  // One video's frames.
  r = parse_zero_shot_video_json(body(json::array({kPng, kPng, url("image/jpeg", "jpg")})).dump(), limits);
  ASSERT_EQ(r.videos.size(), 1u);
  EXPECT_TRUE(r.videos[0].is_frames());
  EXPECT_EQ(r.videos[0].frames.size(), 3u);
  EXPECT_EQ(r.videos[0].frame_names[2], "inputs[2]");
  EXPECT_FALSE(r.batch);
  // Several video files; several frame lists.
  r = parse_zero_shot_video_json(body(json::array({kMp4, url("video/webm", "webm")})).dump(), limits);
  ASSERT_EQ(r.videos.size(), 2u);
  EXPECT_TRUE(r.batch);
  EXPECT_EQ(r.videos[1].file, "webm");
  r = parse_zero_shot_video_json(body(json::array({json::array({kPng}), json::array({kPng, kPng})})).dump(), limits);
  ASSERT_EQ(r.videos.size(), 2u);
  EXPECT_TRUE(r.batch);
  EXPECT_EQ(r.videos[1].frame_names[1], "inputs[1][1]");
}

TEST(ZeroShotRequest, VideoRefusalsNameTheInput) {
  RequestLimits limits;
  limits.max_videos = 2;
  limits.max_video_frames = 3;
  for (const auto& c : std::vector<std::pair<json, std::string>>{
           {kPng, "inputs"},                                          // one image is not a video
           {json::array({kPng, kMp4}), "inputs[1]"},                  // frames and a video mixed
           {json::array({kMp4, kPng}), "inputs[1]"},                  // videos and a frame mixed
           {json::array({kPng, kPng, kPng, kPng}), "inputs"},         // too many frames
           {json::array({kMp4, kMp4, kMp4}), "inputs"},               // too many videos
           {json::array({json::array({kPng}), kPng}), "inputs[1]"},   // a frame list, then a frame
           {json::array({json::array()}), "inputs[0]"},               // a video of no frames
           {json::array({json::array({kPng, 5})}), "inputs[0][1]"},   // a frame that is no string
           {json::array({"data:image/png;base64,%%"}), "inputs[0]"},  // bad base64
           {"data:video/mp4;base64,", "inputs"},                      // empty
           {json::object(), "inputs"},
       }) {
    const ApiError e = refusal([&] { parse_zero_shot_video_json(body(c.first).dump(), limits); });
    EXPECT_EQ(e.status(), 400) << c.first.dump();
    EXPECT_EQ(e.param(), c.second) << c.first.dump() << ": " << e.what();
  }
  EXPECT_EQ(refusal([&] { parse_zero_shot_video_json(body(kMp4, json::array({""})).dump(), limits); }).param(),
            "parameters.candidate_labels[0]");
}

TEST(ZeroShotRequest, VideoForm) {
  RequestLimits limits;
  limits.max_videos = 2;
  const FormPart video{"file", "v.mp4", "video/mp4", "mp4 bytes"}, labels{"candidate_labels", std::nullopt, "", "a"};
  auto r = parse_zero_shot_video_form({video, labels, {"model", std::nullopt, "", "xclip"}}, limits);
  ASSERT_EQ(r.videos.size(), 1u);
  EXPECT_EQ(r.videos[0].name, "v.mp4");
  EXPECT_EQ(r.model, "xclip");
  EXPECT_FALSE(r.batch);
  r = parse_zero_shot_video_form({video, video, labels}, limits);
  EXPECT_TRUE(r.batch);
  EXPECT_EQ(refusal([&] { parse_zero_shot_video_form({video, video, video, labels}, limits); }).param(), "file");
  EXPECT_EQ(refusal([&] { parse_zero_shot_video_form({labels}, limits); }).param(), "file");
  EXPECT_EQ(refusal([&] { parse_zero_shot_video_form({video}, limits); }).param(), "candidate_labels");
  EXPECT_EQ(refusal([&] { parse_zero_shot_video_form({{"file", "e.mp4", "", ""}, labels}, limits); }).param(), "file");
}

}  // namespace
}  // namespace ia::server
