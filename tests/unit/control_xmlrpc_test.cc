#include <gtest/gtest.h>

#include <string>

#include "control/wire/base64.h"
#include "control/wire/xmlrpc.h"

namespace podvisor::control::xmlrpc {
namespace {

// Documents below were written by Python 3.11's xmlrpc.client.dumps, the library that both
// supervisorctl and supervisord use.
constexpr std::string_view kPythonProcessInfo =
    "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><array><data>\n"
    "<value><struct>\n<member>\n<name>description</name>\n<value><string>pid 42, uptime "
    "0:01:40</string></value>\n</member>\n<member>\n<name>exitstatus</name>\n<value><int>0</"
    "int></value>\n</member>\n<member>\n<name>group</name>\n<value><string>app</string></"
    "value>\n</member>\n<member>\n<name>logfile</name>\n<value><string>/var/log/app.log</"
    "string></value>\n</member>\n<member>\n<name>name</name>\n<value><string>app</string></"
    "value>\n</member>\n<member>\n<name>now</name>\n<value><int>1700000100</int></value>\n</"
    "member>\n<member>\n<name>pid</name>\n<value><int>42</int></value>\n</member>\n<member>\n"
    "<name>spawnerr</name>\n<value><string></string></value>\n</member>\n<member>\n<name>start</"
    "name>\n<value><int>1700000000</int></value>\n</member>\n<member>\n<name>state</name>\n"
    "<value><int>20</int></value>\n</member>\n<member>\n<name>statename</name>\n<value><string>"
    "RUNNING</string></value>\n</member>\n<member>\n<name>stderr_logfile</name>\n<value><string>"
    "</string></value>\n</member>\n<member>\n<name>stdout_logfile</name>\n<value><string>/var/"
    "log/app.log</string></value>\n</member>\n<member>\n<name>stop</name>\n<value><int>0</int>"
    "</value>\n</member>\n</struct></value>\n</data></array></value>\n</param>\n</params>\n"
    "</methodResponse>\n";

constexpr std::string_view kPythonReadLogCall =
    "<?xml version='1.0'?>\n<methodCall>\n<methodName>supervisor.readProcessStdoutLog</"
    "methodName>\n<params>\n<param>\n<value><string>app</string></value>\n</param>\n<param>\n"
    "<value><int>0</int></value>\n</param>\n<param>\n<value><int>100</int></value>\n</param>\n"
    "</params>\n</methodCall>\n";

constexpr std::string_view kPythonGetStateCall =
    "<?xml version='1.0'?>\n<methodCall>\n<methodName>supervisor.getState</methodName>\n"
    "<params>\n</params>\n</methodCall>\n";

constexpr std::string_view kPythonFault =
    "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n<name>"
    "faultCode</name>\n<value><int>10</int></value>\n</member>\n<member>\n<name>faultString</"
    "name>\n<value><string>BAD_NAME: foo</string></value>\n</member>\n</struct></value>\n"
    "</fault>\n</methodResponse>\n";

constexpr std::string_view kPythonMixedArray =
    "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><array><data>\n"
    "<value><double>1.5</double></value>\n<value><int>-2</int></value>\n<value><string>x</"
    "string></value>\n<value><boolean>1</boolean></value>\n<value><double>3e+20</double></"
    "value>\n<value><struct>\n</struct></value>\n</data></array></value>\n</param>\n</params>\n"
    "</methodResponse>\n";

Struct process_info() {
  return Struct{{"description", "pid 42, uptime 0:01:40"},
                {"exitstatus", 0},
                {"group", "app"},
                {"logfile", "/var/log/app.log"},
                {"name", "app"},
                {"now", 1700000100},
                {"pid", 42},
                {"spawnerr", ""},
                {"start", 1700000000},
                {"state", 20},
                {"statename", "RUNNING"},
                {"stderr_logfile", ""},
                {"stdout_logfile", "/var/log/app.log"},
                {"stop", 0}};
}

Value response_value(std::string_view body) {
  auto decoded = decode_response(body);
  EXPECT_TRUE(std::holds_alternative<Value>(decoded)) << body;
  return std::holds_alternative<Value>(decoded) ? std::get<Value>(decoded) : Value();
}

std::string wrap(std::string_view value_xml) {
  return "<?xml version='1.0'?><methodResponse><params><param>" + std::string(value_xml) +
         "</param></params></methodResponse>";
}

TEST(XmlRpcEncode, SameBytesAsPython) {
  EXPECT_EQ(encode_response(Value(Array{Value(process_info())})), kPythonProcessInfo);
  EXPECT_EQ(encode_fault({10, "BAD_NAME: foo"}), kPythonFault);
  EXPECT_EQ(encode_call({"supervisor.readProcessStdoutLog", {"app", 0, 100}}), kPythonReadLogCall);
  EXPECT_EQ(encode_call({"supervisor.getState", {}}), kPythonGetStateCall);
  EXPECT_EQ(encode_response(Value(Array{1.5, -2, "x", true, 3e20, Struct{}})), kPythonMixedArray);
}

TEST(XmlRpcEncode, Scalars) {
  const auto body = [](const Value& v) {
    const std::string all = encode_response(v);
    const auto start = all.find("<value>");
    return all.substr(start, all.rfind("</value>") + 8 - start);
  };
  EXPECT_EQ(body(true), "<value><boolean>1</boolean></value>");
  EXPECT_EQ(body(false), "<value><boolean>0</boolean></value>");
  EXPECT_EQ(body(2147483647), "<value><int>2147483647</int></value>");
  EXPECT_EQ(body(int64_t{-2147483648LL}), "<value><int>-2147483648</int></value>");
  EXPECT_EQ(body(int64_t{1} << 40), "<value><i8>1099511627776</i8></value>");
  EXPECT_EQ(body(2.0), "<value><double>2.0</double></value>");
  EXPECT_EQ(body(-0.25), "<value><double>-0.25</double></value>");
  EXPECT_EQ(body(Nil{}), "<value><nil/></value>");
  EXPECT_EQ(body(""), "<value><string></string></value>");
  EXPECT_EQ(body(Array{}), "<value><array><data>\n</data></array></value>");
}

TEST(XmlRpcEncode, EscapesMarkupAndKeepsCarriageReturns) {
  EXPECT_EQ(escape_text("a<b>&c\"'"), "a&lt;b&gt;&amp;c\"'");
  // A literal CR would reach the client as LF.
  EXPECT_EQ(escape_text("50%\r60%\r\n"), "50%&#13;60%&#13;\n");
  EXPECT_EQ(escape_text("tab\there\n"), "tab\there\n");
}

TEST(XmlRpcEncode, ControlCharactersAndBrokenUtf8BecomeReplacementCharacters) {
  const std::string fffd = "\xEF\xBF\xBD";
  // ANSI colours: ESC is not an XML 1.0 character, not even as &#27;.
  EXPECT_EQ(escape_text("\x1b[32mok\x1b[0m"), fffd + "[32mok" + fffd + "[0m");
  EXPECT_EQ(escape_text(std::string("a\0b", 3)), "a" + fffd + "b");
  EXPECT_EQ(escape_text("\x01\x08\x0b\x0c\x1f\x7f"), fffd + fffd + fffd + fffd + fffd + "\x7f");
  // Valid UTF-8 passes unchanged: 2, 3 and 4 byte sequences, C1 controls (allowed in XML 1.0).
  const std::string valid = "caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80 \xC2\x85";
  EXPECT_EQ(escape_text(valid), valid);
  EXPECT_EQ(escape_text("\xff"), fffd);                        // never a UTF-8 byte
  EXPECT_EQ(escape_text("\xC3"), fffd);                        // truncated at the end
  EXPECT_EQ(escape_text("\xE4\xB8x"), fffd + "x");             // truncated: one replacement
  EXPECT_EQ(escape_text("\xC0\x80"), fffd + fffd);             // overlong NUL
  EXPECT_EQ(escape_text("\xE0\x80\xAF"), fffd + fffd + fffd);  // overlong
  EXPECT_EQ(escape_text("\xED\xA0\x80"), fffd + fffd + fffd);  // a UTF-16 surrogate
  EXPECT_EQ(escape_text("\xF4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // past U+10FFFF
  EXPECT_EQ(escape_text("\xEF\xBF\xBE\xEF\xBF\xBF"), fffd + fffd);        // U+FFFE, U+FFFF
  EXPECT_EQ(escape_text("\x80\x80"), fffd + fffd);                        // lone continuation bytes
}

TEST(XmlRpcEncode, OutputIsAlwaysWellFormed) {
  // Every byte value, alone and after each lead byte: the reply must parse and keep the
  // characters that XML can carry.
  for (int lead = 0; lead < 256; ++lead) {
    std::string text;
    for (int b = 0; b < 256; ++b) {
      text += static_cast<char>(lead);
      text += static_cast<char>(b);
    }
    const std::string reply = encode_response(Value(text));
    const Value decoded = response_value(reply);
    ASSERT_TRUE(std::holds_alternative<std::string>(decoded.v)) << lead;
    EXPECT_EQ(escape_text(std::get<std::string>(decoded.v)), escape_text(text)) << lead;
  }
  const Value names = response_value(encode_response(Struct{{"\x1b<k>", std::string("\0v", 2)}}));
  EXPECT_EQ(names, Value(Struct{{"\xEF\xBF\xBD<k>", "\xEF\xBF\xBDv"}}));
}

TEST(XmlRpcDecode, PythonDocuments) {
  EXPECT_EQ(response_value(kPythonProcessInfo), Value(Array{Value(process_info())}));
  EXPECT_EQ(response_value(kPythonMixedArray), Value(Array{1.5, -2, "x", true, 3e20, Struct{}}));

  const Call call = decode_call(kPythonReadLogCall);
  EXPECT_EQ(call.method, "supervisor.readProcessStdoutLog");
  EXPECT_EQ(call.params, (Array{"app", 0, 100}));
  const Call no_params = decode_call(kPythonGetStateCall);
  EXPECT_EQ(no_params.method, "supervisor.getState");
  EXPECT_TRUE(no_params.params.empty());

  const auto fault = decode_response(kPythonFault);
  ASSERT_TRUE(std::holds_alternative<Fault>(fault));
  EXPECT_EQ(std::get<Fault>(fault).code, 10);
  EXPECT_EQ(std::get<Fault>(fault).message, "BAD_NAME: foo");
}

TEST(XmlRpcDecode, RoundTrips) {
  const Value nested(Struct{
      {"list", Array{1, Array{2, Array{}}, Struct{{"k", Nil{}}}}},
      {"text", "line one\nline two\r\n\ttabbed & <marked>"},
      {"unicode", "caf\xC3\xA9 \xF0\x9F\x98\x80"},
      {"big", int64_t{-1} << 40},
      {"double", 0.1},
      {"flag", false},
      {"empty", ""},
      {"spaces", "   "},
  });
  EXPECT_EQ(response_value(encode_response(nested)), nested);
  const Call call{"system.multicall",
                  {Array{Struct{{"methodName", "supervisor.getPID"}, {"params", Array{}}}}}};
  const Call back = decode_call(encode_call(call));
  EXPECT_EQ(back.method, call.method);
  EXPECT_EQ(back.params, call.params);
  const auto fault = decode_response(encode_fault({70, "NOT_RUNNING: app"}));
  ASSERT_TRUE(std::holds_alternative<Fault>(fault));
  EXPECT_EQ(std::get<Fault>(fault).code, 70);
  EXPECT_EQ(std::get<Fault>(fault).message, "NOT_RUNNING: app");
}

TEST(XmlRpcDecode, ValueForms) {
  EXPECT_EQ(response_value(wrap("<value>untyped</value>")), Value("untyped"));
  EXPECT_EQ(response_value(wrap("<value>  </value>")), Value("  "));
  EXPECT_EQ(response_value(wrap("<value></value>")), Value(""));
  EXPECT_EQ(response_value(wrap("<value><string> a </string></value>")), Value(" a "));
  EXPECT_EQ(response_value(wrap("<value>\n  <int>5</int>\n</value>")), Value(5));
  EXPECT_EQ(response_value(wrap("<value><i4> -7 </i4></value>")), Value(-7));
  EXPECT_EQ(response_value(wrap("<value><i8>99999999999</i8></value>")),
            Value(int64_t{99999999999}));
  EXPECT_EQ(response_value(wrap("<value><boolean>0</boolean></value>")), Value(false));
  EXPECT_EQ(response_value(wrap("<value><double>-1.5e3</double></value>")), Value(-1500.0));
  EXPECT_EQ(response_value(wrap("<value><nil/></value>")), Value(Nil{}));
  EXPECT_EQ(response_value(wrap("<value><ex:nil xmlns:ex='x'/></value>")), Value(Nil{}));
  EXPECT_EQ(response_value(wrap("<value><base64>aGVsbG8=</base64></value>")), Value("hello"));
  EXPECT_EQ(response_value(wrap("<value><dateTime.iso8601>20240101T10:00:00</dateTime.iso8601>"
                                "</value>")),
            Value("20240101T10:00:00"));
  EXPECT_EQ(response_value(wrap("<value><string>a&amp;b&lt;&#13;&#x41;<![CDATA[<x>]]></string>"
                                "</value>")),
            Value("a&b<\rA<x>"));
  EXPECT_EQ(response_value(wrap("<value><array><value>1</value></array></value>")),
            Value(Array{"1"}));
  EXPECT_EQ(response_value(wrap("<value><array/></value>")), Value(Array{}));
  EXPECT_EQ(response_value(wrap("<value><struct><member><value>1</value><name>k</name></member>"
                                "<member><name>k</name><value>2</value></member></struct>"
                                "</value>")),
            Value(Struct{{"k", "2"}}));  // the last of a repeated name wins, as in Python
}

TEST(XmlRpcDecode, DepthIsBounded) {
  const auto nested_arrays = [](int depth) {
    std::string xml;
    for (int i = 0; i < depth; ++i) xml += "<value><array><data>";
    xml += "<value>x</value>";
    for (int i = 0; i < depth; ++i) xml += "</data></array></value>";
    return wrap(xml);
  };
  EXPECT_NO_THROW(decode_response(nested_arrays(kMaxDepth - 1)));
  EXPECT_THROW(decode_response(nested_arrays(kMaxDepth + 1)), DecodeError);
  EXPECT_THROW(decode_response(nested_arrays(100000)), DecodeError);
  std::string deep_elements;
  for (int i = 0; i < 200000; ++i) deep_elements += "<a>";
  EXPECT_THROW(decode_response(deep_elements), DecodeError);
}

TEST(XmlRpcDecode, MalformedInputIsADecodeError) {
  const std::vector<std::string> calls = {
      "",
      "not xml",
      "<methodCall>",
      "<methodCall><methodName>x</methodName>",  // unterminated
      "<methodResponse/>",                       // not a call
      "<methodCall/>",                           // no name: supervisord answers 400
      "<methodCall><methodName></methodName></methodCall>",
      "<methodCall><methodName>a</methodName><params><param/></params></methodCall>",
      "<methodCall><methodName>a</methodName><params><x/></params></methodCall>",
      "<methodCall><methodName>a</methodName><foo/></methodCall>",
      "<methodCall><methodName>a</methodName></methodCall><methodCall/>",
      "<methodCall><methodName>a<b/></methodName></methodCall>",
      std::string("<methodCall><methodName>a") + '\0' + "</methodName></methodCall>",
  };
  for (const auto& body : calls) EXPECT_THROW(decode_call(body), DecodeError) << body;

  const std::vector<std::string> values = {
      "<value><int>12x</int></value>",
      "<value><int></int></value>",
      "<value><int>99999999999999999999</int></value>",
      "<value><boolean>2</boolean></value>",
      "<value><boolean>true</boolean></value>",
      "<value><double>1.5.5</double></value>",
      "<value><double>0x10</double></value>",
      "<value><base64>!!!</base64></value>",
      "<value><date>x</date></value>",
      "<value><int>1</int><int>2</int></value>",
      "<value>text<int>1</int></value>",
      "<value><string>a<b/>c</string></value>",
      "<value><nil>x</nil></value>",
      "<value><struct><member><name>k</name></member></struct></value>",
      "<value><struct><foo/></struct></value>",
      "<value><array><data><int>1</int></data></array></value>",
  };
  for (const auto& value : values) {
    EXPECT_THROW(decode_response(wrap(value)), DecodeError) << value;
  }
  const std::vector<std::string> responses = {
      "<methodResponse/>",
      "<methodResponse><params></params></methodResponse>",
      "<methodResponse><params><param><value>1</value></param><param><value>2</value></param>"
      "</params></methodResponse>",
      "<methodResponse><fault><value><string>x</string></value></fault></methodResponse>",
      "<methodResponse><fault><value><struct><member><name>faultCode</name><value>1</value>"
      "</member><member><name>faultString</name><value>x</value></member></struct></value>"
      "</fault></methodResponse>",
      "<methodResponse><fault><value><struct><member><name>faultString</name><value>x</value>"
      "</member></struct></value></fault></methodResponse>",
  };
  for (const auto& body : responses) EXPECT_THROW(decode_response(body), DecodeError) << body;
}

TEST(XmlRpcDecode, NoEntityExpansion) {
  const std::string bomb =
      "<?xml version='1.0'?><!DOCTYPE m [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;'>]>"
      "<methodResponse><params><param><value><string>&b;</string></value></param></params>"
      "</methodResponse>";
  const auto decoded = decode_response(bomb);
  ASSERT_TRUE(std::holds_alternative<Value>(decoded));
  EXPECT_EQ(std::get<Value>(decoded), Value("&b;"));  // left as written, never expanded
}

TEST(Base64, Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("user:pass"), "dXNlcjpwYXNz");
  EXPECT_EQ(base64_decode("Zg=="), "f");
  EXPECT_EQ(base64_decode("Zg"), "f");
  EXPECT_EQ(base64_decode("Zm8="), "fo");
  EXPECT_EQ(base64_decode("Zm9v\n"), "foo");
  EXPECT_EQ(base64_decode("dXNl\r\ncjpwYXNz"), "user:pass");
  EXPECT_EQ(base64_decode(""), "");
  EXPECT_EQ(base64_decode("Z"), std::nullopt);
  EXPECT_EQ(base64_decode("Zg=a"), std::nullopt);
  EXPECT_EQ(base64_decode("Z==="), std::nullopt);
  EXPECT_EQ(base64_decode("Zm9v="), std::nullopt);
  EXPECT_EQ(base64_decode("Zm-v"), std::nullopt);
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  EXPECT_EQ(base64_decode(base64_encode(all)), all);
}

}  // namespace
}  // namespace podvisor::control::xmlrpc
