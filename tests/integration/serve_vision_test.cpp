// `serve` with vision models: /predict (TEI's shape) for an image classifier from JSON data URLs
// and multipart uploads, /detect (HF Inference's object-detection shape) for DETR,
// /v1/embeddings with {"text"} / {"image"} inputs for CLIP, /zero-shot-image-classification (CLIP)
// and /zero-shot-video-classification (X-CLIP, videos as their frames; video files are in
// tests/integration_video), each equal to what the CLI gives for the same inputs, and the
// refusals (URLs, non-images, wrong models, bad labels, too many frames).
#include <gtest/gtest.h>

#include <map>

#include <nlohmann/json.hpp>

#include "core/base64.h"
#include "integration/cli_runner.h"
#include "integration/serve_client.h"

namespace ia::test {
namespace {

using nlohmann::json;

const std::string kModels = std::string(IA_FIXTURES_DIR) + "/models/";
const std::string kImages = std::string(IA_FIXTURES_DIR) + "/images/";

class ServeVision : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServeProcess({"-m", kModels + "vit", "-m", kModels + "clip", "-m", kModels + "bert", "-m",
                                kModels + "detr", "-m", kModels + "xclip"});
  }
  static void TearDownTestSuite() { delete server_; }
  void SetUp() override { ASSERT_TRUE(server_->ready()) << server_->log(); }
  static std::string data_url(const std::string& path) {
    return "data:image/png;base64," + base64_encode(read_file(path));
  }
  static HttpAnswer upload(httplib::MultipartFormDataItems fields, const std::string& path = "/predict") {
    auto c = server_->client();
    auto r = c.Post(path, fields);
    HttpAnswer a;
    if (r) {
      a.status = r->status;
      a.body = r->body;
    }
    return a;
  }
  static ServeProcess* server_;
};
ServeProcess* ServeVision::server_ = nullptr;

TEST_F(ServeVision, PredictEqualsTheClisClassification) {
  const std::string image = kModels + "vit/image.png";
  CliResult cli = run_cli({"classify", "--model", kModels + "vit", image, "--json", "-k", "3"});
  ASSERT_EQ(cli.status, 0) << cli.err;
  const json want = json::parse(cli.out)["labels"];

  HttpAnswer a =
      post_json(*server_, "/predict", json{{"model", "vit"}, {"inputs", data_url(image)}, {"top_k", 3}}.dump());
  ASSERT_EQ(a.status, 200) << a.body;
  const json got = a.json();
  ASSERT_EQ(got.size(), 3u) << a.body;
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(got[i]["label"], want[i]["label"]);
    EXPECT_NEAR(got[i]["score"].get<double>(), want[i]["score"].get<double>(), 1e-6);
  }
  // Every label by default, scores summing to 1 (softmax); a list of inputs gives a list of lists.
  a = post_json(*server_, "/predict", json{{"inputs", json::array({data_url(image), data_url(image)})}}.dump());
  ASSERT_EQ(a.status, 200) << a.body;
  const json both = a.json();
  ASSERT_EQ(both.size(), 2u);
  ASSERT_EQ(both[0].size(), 10u);
  double sum = 0;
  for (const auto& l : both[1]) sum += l["score"].get<double>();
  EXPECT_NEAR(sum, 1.0, 1e-5);
  // raw_scores: the logits, highest first.
  a = post_json(*server_, "/predict",
                json{{"model", "vit"}, {"inputs", data_url(image)}, {"raw_scores", true}, {"top_k", 2}}.dump());
  ASSERT_EQ(a.status, 200) << a.body;
  const json logits = json::parse(cli.out)["logits"];
  ASSERT_EQ(a.json().size(), 2u);
  EXPECT_EQ(a.json()[0]["label"], want[0]["label"]);
  const int64_t top_id = std::stoi(want[0]["label"].get<std::string>().substr(6));  // "class_N"
  EXPECT_NEAR(a.json()[0]["score"].get<double>(), logits[top_id].get<double>(), 1e-5);
  EXPECT_GE(a.json()[0]["score"].get<double>(), a.json()[1]["score"].get<double>());
}

TEST_F(ServeVision, PredictTakesMultipartUploads) {
  const std::string png = read_file(kModels + "vit/image.png");
  const std::string jpeg = read_file(kImages + "jpeg_orientation6.jpg");
  HttpAnswer a = upload({{"model", "vit", "", ""},
                         {"top_k", "2", "", ""},
                         {"file", png, "a.png", "image/png"},
                         {"file", jpeg, "b.jpg", "image/jpeg"}});
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(a.json().size(), 2u);
  EXPECT_EQ(a.json()[0].size(), 2u);
  HttpAnswer json_one = post_json(*server_, "/predict", json{{"inputs", data_url(kModels + "vit/image.png")}}.dump());
  ASSERT_EQ(json_one.status, 200);
  EXPECT_EQ(a.json()[0][0], json_one.json()[0]);  // the same image by either route, the same answer
}

TEST_F(ServeVision, ClipEmbeddingsOfTextsAndImagesInInputOrder) {
  const std::string image = kModels + "clip/image.png";
  CliResult img = run_cli({"embed", "--model", kModels + "clip", "--image", image});
  CliResult txt = run_cli({"embed", "--model", kModels + "clip", "a photo of a cat"});
  ASSERT_EQ(img.status, 0) << img.err;
  ASSERT_EQ(txt.status, 0) << txt.err;
  const json want_image = json::parse(img.out)["embeddings"][0], want_text = json::parse(txt.out)["embeddings"][0];
  HttpAnswer a = post_json(*server_, "/v1/embeddings",
                           json{{"model", "clip"},
                                {"input", json::array({json{{"image", data_url(image)}}, "a photo of a cat",
                                                       json{{"text", "a photo of a cat"}}})}}
                               .dump());
  ASSERT_EQ(a.status, 200) << a.body;
  const json data = a.json()["data"];
  ASSERT_EQ(data.size(), 3u);
  ASSERT_EQ(data[0]["embedding"].size(), want_image.size());
  for (size_t c = 0; c < want_image.size(); ++c) {
    EXPECT_NEAR(data[0]["embedding"][c].get<double>(), want_image[c].get<double>(), 1e-6);
    EXPECT_NEAR(data[1]["embedding"][c].get<double>(), want_text[c].get<double>(), 1e-6);
    EXPECT_EQ(data[2]["embedding"][c], data[1]["embedding"][c]);
  }
  EXPECT_GT(a.json()["usage"]["prompt_tokens"].get<int>(), 0);
  // Plain text inputs go to CLIP's text tower.
  a = post_json(*server_, "/v1/embeddings", json{{"model", "clip"}, {"input", "a photo of a cat"}}.dump());
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.json()["data"][0]["embedding"], data[1]["embedding"]);
}

TEST_F(ServeVision, DetectEqualsTheClisDetections) {
  const std::string image = kModels + "detr/image.png", jpeg = kImages + "jpeg_orientation6.jpg";
  // The fixture's random model scores every query about 0.21 "cat": threshold 0.1 keeps them all.
  CliResult cli = run_cli({"detect", "--model", kModels + "detr", image, jpeg, "--json", "--threshold", "0.1"});
  ASSERT_EQ(cli.status, 0) << cli.err;
  std::vector<json> want;
  for (size_t start = 0, end; (end = cli.out.find('\n', start)) != std::string::npos; start = end + 1)
    want.push_back(json::parse(cli.out.substr(start, end - start))["detections"]);
  ASSERT_EQ(want.size(), 2u) << cli.out;
  ASSERT_FALSE(want[0].empty());

  auto same = [](const json& got, const json& w) {
    ASSERT_EQ(got.size(), w.size()) << got.dump();
    for (size_t i = 0; i < w.size(); ++i) {
      EXPECT_EQ(got[i]["label"], w[i]["label"]);
      EXPECT_NEAR(got[i]["score"].get<double>(), w[i]["score"].get<double>(), 1e-6);
      const char* keys[4] = {"xmin", "ymin", "xmax", "ymax"};
      for (int c = 0; c < 4; ++c) EXPECT_NEAR(got[i]["box"][keys[c]].get<double>(), w[i]["box"][c].get<double>(), 1e-3);
    }
  };
  HttpAnswer a =
      post_json(*server_, "/detect", json{{"model", "detr"}, {"inputs", data_url(image)}, {"threshold", 0.1}}.dump());
  ASSERT_EQ(a.status, 200) << a.body;
  same(a.json(), want[0]);
  // A list of images gives a list of answers; an upload the same as JSON; the default threshold
  // (0.5) keeps none of this model's queries.
  a = post_json(
      *server_, "/detect",
      json{{"inputs", json::array({data_url(image), "data:image/jpeg;base64," + base64_encode(read_file(jpeg))})},
           {"threshold", 0.1}}
          .dump());
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(a.json().size(), 2u);
  same(a.json()[0], want[0]);
  same(a.json()[1], want[1]);
  HttpAnswer form = upload({{"threshold", "0.1", "", ""}, {"file", read_file(jpeg), "b.jpg", "image/jpeg"}}, "/detect");
  ASSERT_EQ(form.status, 200) << form.body;
  same(form.json(), want[1]);
  a = post_json(*server_, "/detect", json{{"inputs", data_url(image)}}.dump());
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.json(), json::array());
}

// What huggingface_hub's InferenceClient sends: the file as the whole body (Content-Type
// image/*), or JSON with the file's bare base64 and the options in "parameters".
TEST_F(ServeVision, HuggingFaceHubShapesGiveTheSameAnswers) {
  const std::string png = read_file(kModels + "vit/image.png");
  auto raw = [&](const std::string& path, const std::string& body, const std::string& type) {
    auto r = server_->client().Post(path, body, type);
    HttpAnswer a;
    if (r) {
      a.status = r->status;
      a.body = r->body;
    }
    return a;
  };
  HttpAnswer want =
      post_json(*server_, "/predict", json{{"model", "vit"}, {"inputs", data_url(kModels + "vit/image.png")}}.dump());
  ASSERT_EQ(want.status, 200) << want.body;
  HttpAnswer a = raw("/predict", png, "image/png");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.json(), want.json());
  a = post_json(*server_, "/predict",
                json{{"model", "vit"}, {"inputs", base64_encode(png)}, {"parameters", {{"top_k", 2}}}}.dump());
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(a.json().size(), 2u);
  EXPECT_EQ(a.json()[0], want.json()[0]);
  EXPECT_EQ(a.json()[1], want.json()[1]);
  HttpAnswer logits = post_json(*server_, "/predict",
                                json{{"model", "vit"}, {"inputs", base64_encode(png)}, {"raw_scores", true}}.dump());
  a = post_json(
      *server_, "/predict",
      json{{"model", "vit"}, {"inputs", base64_encode(png)}, {"parameters", {{"function_to_apply", "none"}}}}.dump());
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.json(), logits.json());

  const std::string detr_png = read_file(kModels + "detr/image.png");
  HttpAnswer boxes =
      post_json(*server_, "/detect",
                json{{"model", "detr"}, {"inputs", data_url(kModels + "detr/image.png")}, {"threshold", 0.1}}.dump());
  ASSERT_EQ(boxes.status, 200) << boxes.body;
  a = post_json(
      *server_, "/detect",
      json{{"model", "detr"}, {"inputs", base64_encode(detr_png)}, {"parameters", {{"threshold", 0.1}}}}.dump());
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.json(), boxes.json());
  HttpAnswer default_threshold =
      post_json(*server_, "/detect", json{{"model", "detr"}, {"inputs", data_url(kModels + "detr/image.png")}}.dump());
  a = raw("/detect", detr_png, "application/octet-stream");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.json(), default_threshold.json());

  // Refusals: base64 that is none, "parameters" that is no object, an option not taken, a raw
  // body that is no image.
  a = post_json(*server_, "/predict", json{{"model", "vit"}, {"inputs", "%%%"}}.dump());
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_NE(a.body.find("base64"), std::string::npos) << a.body;
  a = post_json(*server_, "/predict", json{{"model", "vit"}, {"inputs", base64_encode(png)}, {"parameters", 5}}.dump());
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_NE(a.body.find("parameters"), std::string::npos) << a.body;
  a = post_json(
      *server_, "/predict",
      json{{"model", "vit"}, {"inputs", base64_encode(png)}, {"parameters", {{"function_to_apply", "sigmoid"}}}}
          .dump());
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_NE(a.body.find("function_to_apply"), std::string::npos) << a.body;
  a = raw("/detect", "not an image at all", "image/png");
  EXPECT_EQ(a.status, 400) << a.body;
}

TEST_F(ServeVision, RefusalsAre400sNamingTheInput) {
  struct Case {
    std::string path;
    json body;
    std::string needle;
  };
  const std::string png = data_url(kModels + "vit/image.png");
  for (const Case& c : std::vector<Case>{
           {"/predict", {{"model", "vit"}, {"inputs", "https://example.com/cat.png"}}, "not fetched"},
           {"/predict", {{"model", "vit"}, {"inputs", "data:image/png;base64,aGVsbG8="}}, "not an image"},
           {"/predict", {{"model", "vit"}, {"inputs", "data:image/png;base64,%%%"}}, "does not decode"},
           {"/predict", {{"model", "vit"}, {"inputs", "data:text/plain;base64,aGVsbG8="}}, "not an image"},
           {"/predict", {{"model", "vit"}, {"inputs", json::array()}}, "inputs"},
           {"/predict", {{"model", "vit"}, {"inputs", png}, {"top_k", 0}}, "top_k"},
           {"/predict", {{"model", "bert"}, {"inputs", png}}, "image classification"},
           {"/v1/embeddings", {{"model", "bert"}, {"input", json::array({json{{"image", png}}})}}, "image-text"},
           {"/v1/embeddings", {{"model", "clip"}, {"input", json::array({json{{"video", png}}})}}, "input[0]"},
           {"/embed", {{"model", "clip"}, {"inputs", "a cat"}}, "/v1/embeddings"},
           {"/detect", {{"model", "detr"}, {"inputs", png}, {"threshold", 1.5}}, "threshold"},
           {"/detect", {{"model", "detr"}, {"inputs", png}, {"threshold", "high"}}, "threshold"},
           {"/detect", {{"model", "detr"}, {"inputs", "data:image/png;base64,aGVsbG8="}}, "not an image"},
           {"/detect", {{"model", "vit"}, {"inputs", png}}, "object detection"},
           {"/predict", {{"model", "detr"}, {"inputs", png}}, "image classification"},
       }) {
    HttpAnswer a = post_json(*server_, c.path, c.body.dump());
    EXPECT_EQ(a.status, 400) << c.path << " " << c.body.dump().substr(0, 200) << " -> " << a.body;
    EXPECT_NE(a.body.find(c.needle), std::string::npos) << c.path << " -> " << a.body;
  }
  // A form without a file; a form's threshold that is no number.
  HttpAnswer a = upload({{"model", "vit", "", ""}});
  EXPECT_EQ(a.status, 400) << a.body;
  a = upload({{"threshold", "0.5x", "", ""}, {"file", read_file(kModels + "detr/image.png"), "a.png", "image/png"}},
             "/detect");
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_NE(a.body.find("threshold"), std::string::npos) << a.body;
  // The server still answers afterwards.
  EXPECT_EQ(post_json(*server_, "/predict", json{{"inputs", png}}.dump()).status, 200);
}

// The labels of a zero-shot answer with their scores, checked best first (non-increasing).
std::map<std::string, double> ranked_scores(const json& answer) {
  std::map<std::string, double> out;
  double last = 2;
  for (const auto& l : answer) {
    const double score = l["score"].get<double>();
    EXPECT_LE(score, last) << answer.dump();
    last = score;
    out[l["label"].get<std::string>()] = score;
  }
  return out;
}

// The CLI's probabilities for `texts` (similarity --image / --video), the first input's.
std::vector<double> cli_probs(const std::vector<std::string>& args, const std::vector<std::string>& texts,
                              const char* key) {
  std::vector<std::string> argv = args;
  for (const auto& t : texts) {
    argv.push_back("--text");
    argv.push_back(t);
  }
  CliResult r = run_cli(argv);
  EXPECT_EQ(r.status, 0) << r.err;
  std::vector<double> out;
  if (r.status != 0) return out;
  const json parsed = json::parse(r.out);  // kept: a range-for over a temporary's member dangles
  for (const auto& p : parsed[key][0]) out.push_back(p.get<double>());
  return out;
}

const std::vector<std::string> kLabels{"a cat", "a dog", "a red square"};

// Each label's score equal to the CLI's probability of its text.
void expect_scores(const json& answer, const std::vector<double>& want) {
  ASSERT_EQ(answer.size(), kLabels.size()) << answer.dump();
  ASSERT_EQ(want.size(), kLabels.size());
  const auto got = ranked_scores(answer);
  double sum = 0;
  for (size_t i = 0; i < kLabels.size(); ++i) {
    ASSERT_TRUE(got.count(kLabels[i])) << answer.dump();
    EXPECT_NEAR(got.at(kLabels[i]), want[i], 1e-5) << kLabels[i];
    sum += got.at(kLabels[i]);
  }
  EXPECT_NEAR(sum, 1.0, 1e-5);
}

json zero_shot_body(json inputs, json labels = kLabels) {
  return json{{"inputs", std::move(inputs)}, {"parameters", {{"candidate_labels", std::move(labels)}}}};
}

TEST_F(ServeVision, ZeroShotImageEqualsTheClisSimilarity) {
  const std::string image = kModels + "clip/image.png", jpeg = kImages + "jpeg_orientation6.jpg";
  // transformers' default template, "This is a photo of {}.", is what the texts are.
  std::vector<std::string> texts;
  for (const auto& l : kLabels) texts.push_back("This is a photo of " + l + ".");
  const std::vector<double> want =
      cli_probs({"similarity", "--model", kModels + "clip", "--image", image}, texts, "probs_per_image");
  const std::vector<double> want_jpeg =
      cli_probs({"similarity", "--model", kModels + "clip", "--image", jpeg}, texts, "probs_per_image");

  json body = zero_shot_body(data_url(image));
  body["model"] = "clip";
  HttpAnswer a = post_json(*server_, "/zero-shot-image-classification", body.dump());
  ASSERT_EQ(a.status, 200) << a.body;
  expect_scores(a.json(), want);
  // A list of images: a list of answers, each the image's alone.
  a = post_json(
      *server_, "/zero-shot-image-classification",
      zero_shot_body(json::array({data_url(image), "data:image/jpeg;base64," + base64_encode(read_file(jpeg))}))
          .dump());
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(a.json().size(), 2u);
  expect_scores(a.json()[0], want);
  expect_scores(a.json()[1], want_jpeg);

  // A template of the client's, equal to the CLI given the texts it makes.
  const std::vector<double> want_template =
      cli_probs({"similarity", "--model", kModels + "clip", "--image", image},
                {"a cat, {seen}", "a dog, {seen}", "a red square, {seen}"}, "probs_per_image");
  body["parameters"]["hypothesis_template"] = "{}, {{seen}}";
  a = post_json(*server_, "/zero-shot-image-classification", body.dump());
  ASSERT_EQ(a.status, 200) << a.body;
  expect_scores(a.json(), want_template);

  // A multipart upload: the labels as a JSON list, or one per field; the same answer.
  for (const httplib::MultipartFormDataItems& labels :
       {httplib::MultipartFormDataItems{{"candidate_labels", json(kLabels).dump(), "", ""}},
        httplib::MultipartFormDataItems{{"candidate_labels", kLabels[0], "", ""},
                                        {"candidate_labels", kLabels[1], "", ""},
                                        {"candidate_labels[]", kLabels[2], "", ""}}}) {
    httplib::MultipartFormDataItems form = labels;
    form.push_back({"model", "clip", "", ""});
    form.push_back({"file", read_file(image), "image.png", "image/png"});
    HttpAnswer f = upload(form, "/zero-shot-image-classification");
    ASSERT_EQ(f.status, 200) << f.body;
    expect_scores(f.json(), want);
  }
  httplib::MultipartFormDataItems form{{"candidate_labels", json(kLabels).dump(), "", ""},
                                       {"hypothesis_template", "{}, {{seen}}", "", ""},
                                       {"file", read_file(image), "image.png", "image/png"},
                                       {"file", read_file(jpeg), "b.jpg", "image/jpeg"}};
  HttpAnswer f = upload(form, "/zero-shot-image-classification");
  ASSERT_EQ(f.status, 200) << f.body;
  ASSERT_EQ(f.json().size(), 2u);
  expect_scores(f.json()[0], want_template);
}

TEST_F(ServeVision, ZeroShotVideoOfFramesEqualsTheClisSimilarity) {
  const std::string frames = kModels + "xclip/frames";
  std::vector<std::string> urls;
  for (int i = 0; i < 4; ++i) urls.push_back(data_url(frames + "/00" + std::to_string(i) + ".png"));
  // The video route's default template is the label itself (X-CLIP's class names).
  const std::vector<double> want =
      cli_probs({"similarity", "--model", kModels + "xclip", "--video", frames}, kLabels, "probs_per_video");

  json body = zero_shot_body(urls);
  body["model"] = "xclip";
  HttpAnswer a = post_json(*server_, "/zero-shot-video-classification", body.dump());
  ASSERT_EQ(a.status, 200) << a.body;
  expect_scores(a.json(), want);
  // Eight frames, of which the model's four are sampled evenly (0, 2, 4, 6) as from a folder: the
  // others are never decoded, so they may be anything that parses as a data URL.
  json eight = json::array();
  for (const auto& u : urls) {
    eight.push_back(u);
    eight.push_back("data:image/png;base64," + base64_encode("not sampled"));
  }
  a = post_json(*server_, "/zero-shot-video-classification", zero_shot_body(eight).dump());
  ASSERT_EQ(a.status, 200) << a.body;
  expect_scores(a.json(), want);
  // Several videos as frame lists: a list of answers; a template.
  const std::vector<double> want_template =
      cli_probs({"similarity", "--model", kModels + "xclip", "--video", frames},
                {"a video of a cat", "a video of a dog", "a video of a red square"}, "probs_per_video");
  body = zero_shot_body(json::array({urls, eight}));
  body["parameters"]["hypothesis_template"] = "a video of {}";
  a = post_json(*server_, "/zero-shot-video-classification", body.dump());
  ASSERT_EQ(a.status, 200) << a.body;
  ASSERT_EQ(a.json().size(), 2u);
  expect_scores(a.json()[0], want_template);
  expect_scores(a.json()[1], want_template);

  // The per-model lock's metrics count the requests; /v1/models names the task.
  EXPECT_GE(metric_value(*server_, R"(ia_request_inference_seconds_count{model="xclip"})"), 3);
  HttpAnswer models = get(*server_, "/v1/models");
  ASSERT_EQ(models.status, 200);
  std::map<std::string, std::string> tasks;
  const json listed = models.json();
  for (const auto& m : listed["data"]) tasks[m["id"]] = m["task"];
  EXPECT_EQ(tasks["xclip"], "zero-shot-video-classification");
  EXPECT_EQ(tasks["clip"], "zero-shot-image-classification");
  EXPECT_EQ(tasks["vit"], "image-classification");
  EXPECT_EQ(tasks["detr"], "object-detection");
  EXPECT_EQ(tasks["bert"], "feature-extraction");
}

TEST_F(ServeVision, ZeroShotRefusalsAre400s) {
  struct Case {
    std::string path;
    json body;
    std::string needle;
  };
  const std::string png = data_url(kModels + "clip/image.png");
  const std::string image_route = "/zero-shot-image-classification", video_route = "/zero-shot-video-classification";
  json too_many_frames = json::array();
  for (int i = 0; i < 1025; ++i) too_many_frames.push_back("data:image/png;base64,AAAA");
  json too_many_labels = json::array();
  for (int i = 0; i < 257; ++i) too_many_labels.push_back("label " + std::to_string(i));
  auto with_model = [](json body, const std::string& model) {
    body["model"] = model;
    return body;
  };
  json bad_template = zero_shot_body(png);
  bad_template["parameters"]["hypothesis_template"] = "no field";
  json four_bad_frames = json::array();
  for (int i = 0; i < 4; ++i) four_bad_frames.push_back("data:image/png;base64," + base64_encode("not a png"));
  for (const Case& c : std::vector<Case>{
           {image_route, zero_shot_body(png, json::array()), "at least one label"},
           {image_route, {{"inputs", png}}, "candidate_labels"},
           {image_route, zero_shot_body(png, json::array({"a cat", ""})), "candidate_labels[1]"},
           {image_route, zero_shot_body(png, json::array({"a cat", 3})), "candidate_labels[1]"},
           {image_route, zero_shot_body(png, "a cat,a dog"), "list of strings"},
           {image_route, zero_shot_body(png, too_many_labels), "at most 256"},
           {image_route, zero_shot_body(png, json::array({std::string(1025, 'x')})), "longer than 1024"},
           {image_route, bad_template, "hypothesis_template"},
           {image_route, zero_shot_body("data:image/png;base64,aGVsbG8="), "not an image"},
           {image_route, zero_shot_body("https://example.com/cat.png"), "not fetched"},
           {image_route, with_model(zero_shot_body(png), "vit"), "zero-shot image classification"},
           {image_route, with_model(zero_shot_body(png), "xclip"), "zero-shot image classification"},
           {image_route, with_model(zero_shot_body(png), "bert"), "zero-shot image classification"},
           {video_route, with_model(zero_shot_body(json::array({png})), "clip"), "zero-shot video classification"},
           {video_route, zero_shot_body(too_many_frames), "more than the limit of 1024"},
           {video_route, zero_shot_body(four_bad_frames), "not an image"},
           {video_route, zero_shot_body(png), "one image, not a video"},
           {video_route, zero_shot_body(json::array({png}), json::array({""})), "candidate_labels[0]"},
       }) {
    HttpAnswer a = post_json(*server_, c.path, c.body.dump());
    EXPECT_EQ(a.status, 400) << c.path << " " << c.body.dump().substr(0, 300) << " -> " << a.body;
    EXPECT_NE(a.body.find(c.needle), std::string::npos) << c.path << " -> " << a.body;
    EXPECT_NE(a.body.find("invalid_request_error"), std::string::npos) << a.body;
  }
  // A form without labels, with an empty one, with a JSON list that holds a number. (Video
  // files, which need FFmpeg, are refused in tests/integration_video.)
  const httplib::MultipartFormDataItems file{{"file", read_file(kModels + "clip/image.png"), "a.png", "image/png"}};
  for (const auto& labels : std::vector<httplib::MultipartFormDataItems>{
           {}, {{"candidate_labels", "", "", ""}}, {{"candidate_labels", R"(["a", 1])", "", ""}}}) {
    httplib::MultipartFormDataItems form = file;
    form.insert(form.end(), labels.begin(), labels.end());
    HttpAnswer a = upload(form, image_route);
    EXPECT_EQ(a.status, 400) << a.body;
    EXPECT_NE(a.body.find("candidate_labels"), std::string::npos) << a.body;
  }
  // The server still answers afterwards.
  EXPECT_EQ(post_json(*server_, image_route, zero_shot_body(png).dump()).status, 200);
}

}  // namespace
}  // namespace ia::test
