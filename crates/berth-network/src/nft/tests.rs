use super::*;

fn net(bridge: &str, subnet: &str, internal: bool) -> NetRule {
    NetRule {
        bridge: bridge.into(),
        subnet: subnet.parse().unwrap(),
        internal,
    }
}

fn port(host_ip: Option<Ipv4Addr>, hp: u16, ctr: [u8; 4], cp: u16, proto: Proto) -> PortRule {
    PortRule {
        proto,
        host_ip,
        host_port: hp,
        ctr_ip: Ipv4Addr::from(ctr),
        ctr_port: cp,
        bridge: "berth0".into(),
    }
}

/// The lines of one chain's body (without its `type` line).
fn chain<'a>(script: &'a str, name: &str) -> Vec<&'a str> {
    let start = format!("chain {name} {{");
    let mut lines = script.lines().map(str::trim);
    lines
        .by_ref()
        .find(|l| *l == start)
        .unwrap_or_else(|| panic!("no chain {name}"));
    lines
        .take_while(|l| *l != "}")
        .filter(|l| !l.starts_with("type "))
        .collect()
}

#[test]
fn empty_ruleset_replaces_the_table_with_empty_chains() {
    let s = render(&Ruleset::default());
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines[0], "table inet berth {}");
    assert_eq!(lines[1], "delete table inet berth");
    assert_eq!(lines[2], "table inet berth {");
    assert_eq!(*lines.last().unwrap(), "}");
    for c in ["prerouting", "output", "postrouting", "forward"] {
        assert!(chain(&s, c).is_empty(), "{c} has rules: {s}");
    }
    assert!(s.contains("type nat hook prerouting priority dstnat; policy accept;"));
    assert!(s.contains("type nat hook output priority -100; policy accept;"));
    assert!(s.contains("type nat hook postrouting priority srcnat; policy accept;"));
    assert!(s.contains("type filter hook forward priority filter - 10; policy accept;"));
}

#[test]
fn table_name_is_a_parameter() {
    let s = render_table("bt1234", &Ruleset::default());
    assert!(s.starts_with("table inet bt1234 {}\ndelete table inet bt1234\ntable inet bt1234 {\n"));
    assert!(!s.contains("berth"));
}

#[test]
fn masquerade_and_hairpin_for_a_normal_network() {
    let rs = Ruleset {
        networks: vec![net("berth0", "10.77.0.0/16", false)],
        ports: vec![],
    };
    let s = render(&rs);
    assert_eq!(
        chain(&s, "postrouting"),
        vec![
            "oifname \"berth0\" ip saddr 127.0.0.0/8 masquerade",
            "oifname \"berth0\" ip saddr 10.77.0.0/16 ct status dnat masquerade",
            "ip saddr 10.77.0.0/16 oifname != \"berth0\" masquerade",
        ]
    );
    // One network: nothing to isolate from, but unsolicited traffic in is dropped.
    assert_eq!(
        chain(&s, "forward"),
        vec!["oifname \"berth0\" iifname != \"berth0\" ct state new ct status & dnat == 0 drop"]
    );
}

#[test]
fn bridges_are_isolated_from_each_other() {
    let rs = Ruleset {
        networks: vec![
            net("berth0", "10.77.0.0/16", false),
            net("br-aaa", "10.78.0.0/16", false),
            net("br-bbb", "10.79.0.0/16", false),
        ],
        ports: vec![],
    };
    let s = render(&rs);
    let f = chain(&s, "forward");
    assert!(
        f.contains(
            &"iifname \"berth0\" oifname { \"br-aaa\", \"br-bbb\" } ct status & dnat == 0 drop"
        ),
        "{f:?}"
    );
    assert!(
        f.contains(
            &"iifname \"br-aaa\" oifname { \"berth0\", \"br-bbb\" } ct status & dnat == 0 drop"
        ),
        "{f:?}"
    );
    assert!(
        f.contains(
            &"iifname \"br-bbb\" oifname { \"berth0\", \"br-aaa\" } ct status & dnat == 0 drop"
        ),
        "{f:?}"
    );
}

#[test]
fn internal_network_only_talks_to_itself_and_is_not_masqueraded() {
    let rs = Ruleset {
        networks: vec![
            net("berth0", "10.77.0.0/16", false),
            net("br-int", "10.80.0.0/16", true),
        ],
        ports: vec![],
    };
    let s = render(&rs);
    let f = chain(&s, "forward");
    assert!(f.contains(&"iifname \"br-int\" oifname != \"br-int\" drop"));
    assert!(f.contains(&"oifname \"br-int\" iifname != \"br-int\" drop"));
    // The normal bridge drops traffic towards the internal one as well.
    assert!(f.contains(&"iifname \"berth0\" oifname { \"br-int\" } ct status & dnat == 0 drop"));
    let p = chain(&s, "postrouting");
    assert!(
        p.iter()
            .all(|l| !l.contains("br-int") && !l.contains("10.80.")),
        "{p:?}"
    );
}

#[test]
fn published_ports_are_dnatted_in_prerouting_and_output() {
    let rs = Ruleset {
        networks: vec![net("berth0", "10.77.0.0/16", false)],
        ports: vec![
            port(None, 8080, [10, 77, 0, 2], 80, Proto::Tcp),
            port(
                Some(Ipv4Addr::LOCALHOST),
                5353,
                [10, 77, 0, 3],
                53,
                Proto::Udp,
            ),
        ],
    };
    let s = render(&rs);
    let want = vec![
        "fib daddr type local tcp dport 8080 dnat ip to 10.77.0.2:80",
        "ip daddr 127.0.0.1 udp dport 5353 dnat ip to 10.77.0.3:53",
    ];
    assert_eq!(chain(&s, "prerouting"), want);
    assert_eq!(chain(&s, "output"), want);
}

#[test]
fn names_cannot_break_out_of_their_quotes() {
    let rs = Ruleset {
        networks: vec![net("br-x\" ; flush ruleset ; \"", "10.78.0.0/16", false)],
        ports: vec![],
    };
    let s = render(&rs);
    assert!(!s.contains("; flush"), "{s}");
    assert!(s.contains("\"br-xflushruleset\""), "{s}");
}

#[test]
fn render_is_deterministic() {
    let rs = Ruleset {
        networks: vec![
            net("berth0", "10.77.0.0/16", false),
            net("br-a", "10.78.0.0/16", true),
        ],
        ports: vec![port(None, 1, [10, 77, 0, 2], 2, Proto::Tcp)],
    };
    assert_eq!(render(&rs), render(&rs.clone()));
}
