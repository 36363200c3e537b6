"""The test stacks' nginx.conf: the shipped file with each of its three loopback addresses
replaced by a test's port, whatever ports the machine hands out."""

import re

from e2e_stack import render_nginx_conf


def test_ports_that_begin_like_the_shipped_ones_are_written_whole(tmp_path):
    # Free ports such as 50009 begin with the shipped 5000: replaced one address after the
    # other, "127.0.0.1:50009" became "127.0.0.1:353019" and nginx would not start.
    conf = render_nginx_conf(tmp_path, nginx_port=50009, registry_port=50015, regauth_port=35301)
    text = conf.read_text()
    assert re.findall(r"^\s*listen 127\.0\.0\.1:(\d+);", text, re.M) == ["50009"]
    assert re.findall(r"^\s*server 127\.0\.0\.1:(\d+);", text, re.M) == ["50015", "35301"]
    assert not re.search(r"127\.0\.0\.1:(8080|5000|5001)(?!\d)", text)
