// The kubelet pod list and URL parsers (daemon/k8s/pods.h), and the
// kubernetes: config section.
#include <stdlib.h>

#include <catch2/catch.hpp>

#include "config/config.h"
#include "k8s/pods.h"

using namespace rampart;

TEST_CASE("a kubelet PodList gives name, namespace and labels by pod uid", "[unit]") {
  auto pods = k8s::parse_pod_list(R"({"kind":"PodList","apiVersion":"v1","items":[
    {"metadata":{"uid":"aaaa-1","name":"web-1","namespace":"shop","labels":{"app":"web","tier":"front"}},
     "spec":{"containers":[]}},
    {"metadata":{"uid":"bbbb-2","name":"db-0","namespace":"data"}},
    {"metadata":{"name":"no-uid"}},
    {"metadata":{"uid":"cccc-3","name":"odd-labels","labels":{"n":3,"ok":"yes"}}},
    "not an object", {"spec":{}}]})");
  REQUIRE(pods);
  REQUIRE(pods->size() == 3);
  const auto& web = pods->at("aaaa-1");
  CHECK(web.name == "web-1");
  CHECK(web.ns == "shop");
  CHECK(web.labels == std::map<std::string, std::string>{{"app", "web"}, {"tier", "front"}});
  CHECK(pods->at("bbbb-2").labels.empty());
  CHECK(pods->at("cccc-3").labels == std::map<std::string, std::string>{{"ok", "yes"}});  // non-strings skipped
  CHECK(k8s::parse_pod_list(R"({"kind":"PodList","items":null})")->empty());
  CHECK(k8s::parse_pod_list(R"({"kind":"PodList"})")->empty());
}

TEST_CASE("a kubelet answer that is not a PodList is an error that says why", "[unit]") {
  auto why = [](const char* text) {
    auto r = k8s::parse_pod_list(text);
    return r ? std::string("parsed") : r.error().what();
  };
  CHECK(why("<html>Unauthorized</html>") == "kubelet /pods: the answer is not JSON");
  CHECK(why("[1,2]") == "kubelet /pods: the answer is not a JSON object");
  CHECK(why(R"({"kind":"Status","items":[]})") == "kubelet /pods: 'kind' is not PodList");
  CHECK(why(R"({"kind":"PodList","items":{}})") == "kubelet /pods: 'items' is not a list");
}

TEST_CASE("the pod list is bounded", "[unit]") {
  std::string text = R"({"items":[)";
  for (size_t i = 0; i < k8s::kMaxPods + 10; ++i)
    text += (i ? "," : "") + std::string(R"({"metadata":{"uid":"u)") + std::to_string(i) + R"(","name":"p"}})";
  text += "]}";
  CHECK(k8s::parse_pod_list(text)->size() == k8s::kMaxPods);
}

TEST_CASE("kubelet URLs: scheme, host, port and path, with defaults", "[unit]") {
  auto u = k8s::parse_url("https://10.0.0.7:10250/pods");
  REQUIRE(u);
  CHECK(u->tls);
  CHECK(u->host == "10.0.0.7");
  CHECK(u->port == "10250");
  CHECK(u->target == "/pods");
  u = k8s::parse_url("http://localhost");
  REQUIRE(u);
  CHECK(!u->tls);
  CHECK(u->port == "10255");
  CHECK(u->target == "/pods");
  u = k8s::parse_url("https://[fd00::7]:443/api/pods");
  REQUIRE(u);
  CHECK(u->host == "fd00::7");
  CHECK(u->port == "443");
  CHECK(u->target == "/api/pods");
  CHECK(!k8s::parse_url("ftp://x/pods"));
  CHECK(!k8s::parse_url("https://:10250/pods"));
  CHECK(!k8s::parse_url("https://h:99999/pods"));
  CHECK(!k8s::parse_url("https://h:1x/pods"));
  CHECK(!k8s::parse_url("https://[fd00::7/pods"));
}

TEST_CASE("kubernetes: config section, with ${VAR} from the environment in kubelet_url", "[unit]") {
  setenv("RAMPART_TEST_NODE_IP", "10.1.2.3", 1);
  auto c = config::parse(
      "kubernetes:\n  kubelet_url: https://${RAMPART_TEST_NODE_IP}:10250/pods\n"
      "  ca_file: /etc/ca.pem\n  refresh_seconds: 60\n",
      "k.yaml");
  REQUIRE(c);
  CHECK(c->kubelet_url == "https://10.1.2.3:10250/pods");
  CHECK(c->kubelet_ca_file == "/etc/ca.pem");
  CHECK(c->kubelet_refresh_s == 60);
  CHECK(config::parse("", "k.yaml")->kubelet_url.empty());  // off by default

  auto error = [](const std::string& text) {
    auto r = config::parse(text, "k.yaml");
    return r ? std::string("parsed") : r.error().what();
  };
  CHECK(error("kubernetes:\n  kubelet_url: ftp://x\n") ==
        "k.yaml:2:16: 'kubernetes.kubelet_url': 'ftp://x' must start with http:// or https://");
  CHECK(error("kubernetes:\n  kubelet_url: https://${RAMPART_TEST_UNSET_VAR}:10250/pods\n")
            .find("names ${RAMPART_TEST_UNSET_VAR}, which is not set in rampartd's environment") != std::string::npos);
  CHECK(error("kubernetes:\n  refresh_seconds: 1\n").find("'kubernetes.refresh_seconds'") != std::string::npos);
  CHECK(error("kubernetes:\n  kubelet: x\n").find("kubernetes.kubelet") != std::string::npos);
}
