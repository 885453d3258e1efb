-- ompscope.lua: a Wireshark dissector for the control plane of Cisco SD-WAN,
-- as ompscope decodes it (https://github.com/ompscope/ompscope).
--
-- vdaemon: the messages a control connection (DTLS or TLS) carries. The
-- layout follows the public reverse engineering published with the exploit
-- modules for CVE-2026-20127 and CVE-2026-20182 (rapid7/metasploit-framework);
-- it is not a Cisco specification.
-- OMP: "OMP encoding v1", ompscope's own BGP-modelled encoding of Cisco's
-- published OMP semantics (Cisco has not published OMP's byte format): real
-- equipment's DATA payloads will most likely not decode as it.
-- docs/wire-format.md describes both; docs/wireshark.md the fields.
--
-- Install: copy this file to Wireshark's personal Lua plugins folder
-- (Help > About Wireshark > Folders; ~/.local/lib/wireshark/plugins on
-- Linux), or load it for one run: tshark -X lua_script:ompscope.lua ...
-- It dissects the decrypted application data of DTLS on the control ports
-- and of TLS on 23456 (give the keys as usual: tls.keylog_file, or a capture
-- with Decryption Secrets Blocks), and the exported PDUs of
-- `ompscope dissect --export-decrypted`, which need no key.

local vd = Proto("vdaemon", "Cisco SD-WAN vdaemon")
local om = Proto("omp", "OMP (ompscope encoding v1)")

local msg_types = { [0] = "NEW_CHALLENGE_ACK", [1] = "REGISTER", [5] = "HELLO", [7] = "DATA", [8] = "CHALLENGE",
	[9] = "CHALLENGE_ACK", [10] = "CHALLENGE_ACK_ACK", [11] = "TEAR_DOWN", [12] = "DELETE_VSMARTS_SERIAL",
	[13] = "REGISTER_TO_VMANAGE", [14] = "VMANAGE_TO_PEER", [15] = "SUBMSG" }
local devices = { [0] = "unknown", [1] = "vEdge", [2] = "vHub", [3] = "vSmart", [4] = "vBond", [5] = "vManage",
	[6] = "ZTP", [7] = "vContainer" }
local tlv_types = { [0x06] = "uuid", [0x13] = "instance-id", [0x14] = "max-instances", [0x18] = "flags-0x18",
	[0x19] = "flags-0x19", [0x21] = "num-vsmarts", [0x22] = "num-vmanages", [0x32] = "server-key" }
local colors = { [1] = "default", [2] = "mpls", [3] = "metro-ethernet", [4] = "biz-internet", [5] = "public-internet",
	[6] = "lte", [7] = "3g", [8] = "red", [9] = "green", [10] = "blue", [11] = "gold", [12] = "silver", [13] = "bronze",
	[14] = "custom1", [15] = "custom2", [16] = "custom3", [17] = "private1", [18] = "private2", [19] = "private3",
	[20] = "private4", [21] = "private5", [22] = "private6" }
local encaps = { [1] = "gre", [2] = "ipsec" }
local omp_types = { [1] = "HELLO", [2] = "HANDSHAKE", [3] = "UPDATE", [4] = "ALERT", [5] = "INFORM", [6] = "POLICY" }
local families = { [0] = "tloc-ipv4", [1] = "tloc-ipv6", [2] = "service", [3] = "route-ipv4", [4] = "route-ipv6",
	[5] = "mcast-ipv4", [6] = "mcast-ipv6" }
local attr_types = { [1] = "ORIGINATOR", [2] = "TLOC", [3] = "ORIGIN", [4] = "PREFERENCE", [5] = "SITE_ID", [6] = "TAG",
	[7] = "DOMAIN_ID", [8] = "OVERLAY_ID", [9] = "LABEL", [10] = "ULTIMATE_TLOC", [11] = "AFFINITY_GROUP",
	[12] = "REGION_ID", [13] = "AS_PATH", [14] = "COMMUNITY", [15] = "SUBREGION_ID", [16] = "REGION_PATH",
	[17] = "BR_PREFERENCE", [32] = "PRIVATE_IPV4", [33] = "PUBLIC_IPV4", [34] = "PRIVATE_IPV6", [35] = "PUBLIC_IPV6",
	[36] = "WEIGHT", [37] = "CARRIER", [38] = "RESTRICT", [39] = "GROUPS", [40] = "ENCAP_PARAMS", [41] = "GEN_ID",
	[42] = "BANDWIDTH", [43] = "BFD_STATUS", [44] = "TLOC_VERSION", [45] = "GRE_KEY", [46] = "ENCAP_PROTO",
	[47] = "ROLE", [48] = "SECONDARY_REGION_ID", [49] = "TRANSPORT_GATEWAY" }
local inform_kinds = { [1] = "END_OF_RIB", [2] = "ROUTE_REFRESH", [3] = "GRACEFUL_RESTART_BEGIN" }

local f = {
	version = ProtoField.uint8("vdaemon.version", "Version", base.DEC, nil, 0xF0),
	type = ProtoField.uint8("vdaemon.type", "Message type", base.DEC, msg_types, 0x0F),
	device_type = ProtoField.uint8("vdaemon.device_type", "Device type", base.DEC, devices, 0xF0),
	device_low = ProtoField.uint8("vdaemon.device_low", "Device low nibble", base.DEC, nil, 0x0F),
	flags = ProtoField.uint8("vdaemon.flags", "Flags", base.HEX),
	reserved = ProtoField.uint8("vdaemon.reserved", "Reserved", base.DEC),
	domain_id = ProtoField.uint32("vdaemon.domain_id", "Domain ID", base.DEC),
	site_id = ProtoField.uint32("vdaemon.site_id", "Site ID", base.DEC),
	challenge = ProtoField.bytes("vdaemon.challenge", "Challenge"),
	verified = ProtoField.uint8("vdaemon.verified_status", "Verified status", base.DEC),
	hwflag = ProtoField.uint8("vdaemon.hardware_flag", "Hardware flag", base.DEC),
	verify = ProtoField.uint8("vdaemon.verify_status", "Verify status", base.DEC),
	tlv_count = ProtoField.uint8("vdaemon.tlv_count", "TLV count", base.DEC),
	tlv_type = ProtoField.uint16("vdaemon.tlv.type", "TLV type", base.HEX, tlv_types),
	tlv_len = ProtoField.uint16("vdaemon.tlv.length", "TLV length", base.DEC),
	tlv_value = ProtoField.bytes("vdaemon.tlv.value", "TLV value"),
	uuid = ProtoField.string("vdaemon.uuid", "UUID"),
	hello_dummy = ProtoField.uint32("vdaemon.hello.is_dummy", "Is dummy", base.DEC),
	hello_family = ProtoField.uint16("vdaemon.hello.family", "Address family", base.DEC),
	hello_addr = ProtoField.ipv4("vdaemon.hello.address", "Address"),
	hello_addr6 = ProtoField.ipv6("vdaemon.hello.address6", "Address"),
	hello_port = ProtoField.uint16("vdaemon.hello.port", "Port", base.DEC),
	hello_color = ProtoField.uint32("vdaemon.hello.color", "Color", base.DEC, colors),
	hello_interval = ProtoField.uint32("vdaemon.hello.interval_ms", "Hello interval (ms)", base.DEC),
	hello_tolerance = ProtoField.uint32("vdaemon.hello.tolerance_ms", "Hello tolerance (ms)", base.DEC),
	error = ProtoField.uint8("vdaemon.teardown.error_code", "Error code", base.DEC),
	keys_text = ProtoField.string("vdaemon.vmanage.text", "Authorized-keys text"),
	extra = ProtoField.bytes("vdaemon.extra", "Bytes after the TLVs"),
	raw = ProtoField.bytes("vdaemon.raw", "Body"),
}
vd.fields = f

local g = {
	version = ProtoField.uint8("omp.version", "Version", base.DEC),
	type = ProtoField.uint8("omp.type", "Type", base.DEC, omp_types),
	length = ProtoField.uint16("omp.length", "Length", base.DEC),
	hs_system_ip = ProtoField.ipv4("omp.handshake.system_ip", "System IP"),
	hs_site_id = ProtoField.uint32("omp.handshake.site_id", "Site ID", base.DEC),
	hs_domain_id = ProtoField.uint32("omp.handshake.domain_id", "Domain ID", base.DEC),
	hs_overlay_id = ProtoField.uint32("omp.handshake.overlay_id", "Overlay ID", base.DEC),
	hs_hold = ProtoField.uint16("omp.handshake.hold_time", "Hold time (s)", base.DEC),
	hs_device = ProtoField.uint8("omp.handshake.device_type", "Device type", base.DEC, devices),
	hs_flags = ProtoField.uint8("omp.handshake.flags", "Flags", base.HEX),
	hs_gr = ProtoField.uint32("omp.handshake.gr_timer", "Graceful-restart timer (s)", base.DEC),
	family = ProtoField.uint8("omp.update.family", "Address family", base.DEC, families),
	path_id = ProtoField.uint32("omp.update.path_id", "Path ID", base.DEC),
	vpn = ProtoField.uint32("omp.update.vpn", "VPN", base.DEC),
	prefix = ProtoField.ipv4("omp.update.prefix", "Prefix"),
	prefix6 = ProtoField.ipv6("omp.update.prefix6", "Prefix"),
	prefix_len = ProtoField.uint8("omp.update.prefix_len", "Prefix length", base.DEC),
	prefix6_len = ProtoField.uint8("omp.update.prefix6_len", "Prefix length", base.DEC),
	withdrawn = ProtoField.bool("omp.update.withdrawn", "Withdrawn"),
	tloc_ip = ProtoField.ipv4("omp.tloc.system_ip", "TLOC system IP"),
	tloc_color = ProtoField.uint8("omp.tloc.color", "TLOC color", base.DEC, colors),
	tloc_encap = ProtoField.uint8("omp.tloc.encap", "TLOC encapsulation", base.DEC, encaps),
	service = ProtoField.uint8("omp.service.service", "Service", base.DEC),
	svc_orig = ProtoField.ipv4("omp.service.originator", "Originator"),
	attr_flags = ProtoField.uint8("omp.attr.flags", "Attribute flags", base.HEX),
	attr_type = ProtoField.uint8("omp.attr.type", "Attribute type", base.DEC, attr_types),
	attr_len = ProtoField.uint16("omp.attr.length", "Attribute length", base.DEC),
	attr_value = ProtoField.bytes("omp.attr.value", "Attribute value"),
	originator = ProtoField.ipv4("omp.attr.originator", "Originator"),
	origin_proto = ProtoField.uint8("omp.attr.origin", "Origin protocol", base.DEC),
	origin_metric = ProtoField.uint32("omp.attr.metric", "Origin metric", base.DEC),
	ult_action = ProtoField.uint8("omp.attr.ultimate_action", "Ultimate TLOC action", base.DEC,
		{ [1] = "strict", [2] = "primary", [3] = "ecmp", [4] = "backup" }),
	addr4 = ProtoField.ipv4("omp.attr.address", "Address"),
	addr6 = ProtoField.ipv6("omp.attr.address6", "Address"),
	addr_port = ProtoField.uint16("omp.attr.port", "Port", base.DEC),
	spi = ProtoField.uint32("omp.attr.spi", "SPI", base.DEC),
	auth_bits = ProtoField.uint16("omp.attr.auth_bits", "Authentication", base.HEX),
	enc_bits = ProtoField.uint16("omp.attr.encryption_bits", "Encryption", base.HEX),
	alert_code = ProtoField.uint8("omp.alert.code", "Alert code", base.DEC),
	alert_subcode = ProtoField.uint8("omp.alert.subcode", "Alert subcode", base.DEC),
	inform_kind = ProtoField.uint8("omp.inform.kind", "Inform kind", base.DEC, inform_kinds),
	inform_family = ProtoField.uint8("omp.inform.family", "Address family", base.DEC, families),
	body = ProtoField.bytes("omp.body", "Body"),
}
-- one field per attribute of one number (or a list of them), named as the
-- attribute's member in ompscope's JSON (omp.AttrType.Key)
local u32_attrs = { [4] = "preference", [5] = "site_id", [6] = "tag", [7] = "domain_id", [8] = "overlay_id",
	[9] = "label", [11] = "affinity_group", [12] = "region_id", [15] = "subregion_id", [17] = "br_preference",
	[36] = "weight", [41] = "gen_id", [42] = "bandwidth", [44] = "version", [45] = "gre_key",
	[48] = "secondary_region_id" }
local list_attrs = { [13] = "as_path", [14] = "community", [16] = "region_path", [39] = "groups" }
local u8_attrs = { [37] = { "carrier", { [1] = "default", [2] = "carrier1", [3] = "carrier2", [4] = "carrier3",
	[5] = "carrier4", [6] = "carrier5", [7] = "carrier6", [8] = "carrier7", [9] = "carrier8" } },
	[38] = { "restrict" }, [43] = { "bfd_status", { [0] = "up", [1] = "down", [2] = "inactive" } },
	[46] = { "encap_proto" }, [47] = { "role", { [1] = "edge-router", [2] = "border-router" } },
	[49] = { "transport_gateway" } }
local af = {}
for t, k in pairs(u32_attrs) do
	af[t] = ProtoField.uint32("omp.attr." .. k, attr_types[t], base.DEC)
	g["attr_" .. k] = af[t]
end
for t, k in pairs(list_attrs) do
	af[t] = ProtoField.uint32("omp.attr." .. k, attr_types[t], base.DEC)
	g["attr_" .. k] = af[t]
end
for t, k in pairs(u8_attrs) do
	af[t] = ProtoField.uint8("omp.attr." .. k[1], attr_types[t], base.DEC, k[2])
	g["attr_" .. k[1]] = af[t]
end
om.fields = g

local ef = {
	malformed = ProtoExpert.new("vdaemon.malformed", "Malformed vdaemon message", expert.group.MALFORMED, expert.severity.ERROR),
	omp_malformed = ProtoExpert.new("omp.malformed", "Malformed OMP message", expert.group.MALFORMED, expert.severity.ERROR),
}
vd.experts = { ef.malformed }
om.experts = { ef.omp_malformed }

-- tlvs dissects a TLV list (count byte, then type u16, length u16, value)
-- at off; it returns the offset after it, or nil when it does not fit.
local function tlvs(tvb, tree, off)
	local n = tvb:len()
	if off + 1 > n then return nil end
	local count = tvb(off, 1):uint()
	tree:add(f.tlv_count, tvb(off, 1))
	off = off + 1
	for _ = 1, count do
		if off + 4 > n then return nil end
		local t, l = tvb(off, 2):uint(), tvb(off + 2, 2):uint()
		if off + 4 + l > n then return nil end
		local st = tree:add(vd, tvb(off, 4 + l), "TLV " .. (tlv_types[t] or string.format("0x%04x", t)))
		st:add(f.tlv_type, tvb(off, 2))
		st:add(f.tlv_len, tvb(off + 2, 2))
		if l > 0 then
			if t == 0x06 then st:add(f.uuid, tvb(off + 4, l)) else st:add(f.tlv_value, tvb(off + 4, l)) end
		end
		off = off + 4 + l
	end
	return off
end

local function extra(tvb, tree, off)
	if off and off < tvb:len() then tree:add(f.extra, tvb(off)) end
end

local nlri_fixed = { [0] = 10, [1] = 10, [2] = 13 }

-- nlri dissects the NLRI entries of family fam in tvb(off, len).
local function nlri(tvb, tree, fam, off, len, withdrawn)
	local stop = off + len
	while off < stop do
		if fam == 3 or fam == 4 then
			if off + 9 > stop then return false end
			local bits = tvb(off + 8, 1):uint()
			local nb = math.floor((bits + 7) / 8)
			if off + 9 + nb > stop then return false end
			local et = tree:add(om, tvb(off, 9 + nb), "Route")
			et:add(g.path_id, tvb(off, 4))
			et:add(g.vpn, tvb(off + 4, 4))
			et:add(fam == 3 and g.prefix_len or g.prefix6_len, tvb(off + 8, 1))
			if fam == 3 then
				local b = ByteArray.new()
				b:set_size(4)
				for i = 0, nb - 1 do b:set_index(i, tvb(off + 9 + i, 1):uint()) end
				et:add(g.prefix, ByteArray.tvb(b, "prefix")(0, 4))
			else
				local b = ByteArray.new()
				b:set_size(16)
				for i = 0, nb - 1 do b:set_index(i, tvb(off + 9 + i, 1):uint()) end
				et:add(g.prefix6, ByteArray.tvb(b, "prefix")(0, 16))
			end
			if withdrawn then et:add(g.withdrawn, true) end
			off = off + 9 + nb
		elseif nlri_fixed[fam] then
			local l = nlri_fixed[fam]
			if off + l > stop then return false end
			local et = tree:add(om, tvb(off, l), fam == 2 and "Service" or "TLOC")
			et:add(g.path_id, tvb(off, 4))
			if fam == 2 then
				et:add(g.vpn, tvb(off + 4, 4))
				et:add(g.service, tvb(off + 8, 1))
				et:add(g.svc_orig, tvb(off + 9, 4))
			else
				et:add(g.tloc_ip, tvb(off + 4, 4))
				et:add(g.tloc_color, tvb(off + 8, 1))
				et:add(g.tloc_encap, tvb(off + 9, 1))
			end
			if withdrawn then et:add(g.withdrawn, true) end
			off = off + l
		else
			tree:add(g.body, tvb(off, stop - off))
			return true
		end
	end
	return true
end

local function attrs(tvb, tree, off, len)
	local stop = off + len
	while off < stop do
		if off + 4 > stop then return false end
		local t, l = tvb(off + 1, 1):uint(), tvb(off + 2, 2):uint()
		if off + 4 + l > stop then return false end
		local at = tree:add(om, tvb(off, 4 + l), "Attribute " .. (attr_types[t] or ("ATTR-" .. t)))
		at:add(g.attr_flags, tvb(off, 1))
		at:add(g.attr_type, tvb(off + 1, 1))
		at:add(g.attr_len, tvb(off + 2, 2))
		local v = off + 4
		if t == 1 and l == 4 then at:add(g.originator, tvb(v, 4))
		elseif (t == 2 and l == 6) or (t == 10 and l == 7) then
			at:add(g.tloc_ip, tvb(v, 4)); at:add(g.tloc_color, tvb(v + 4, 1)); at:add(g.tloc_encap, tvb(v + 5, 1))
			if t == 10 then at:add(g.ult_action, tvb(v + 6, 1)) end
		elseif t == 3 and l == 5 then at:add(g.origin_proto, tvb(v, 1)); at:add(g.origin_metric, tvb(v + 1, 4))
		elseif u32_attrs[t] and l == 4 then at:add(af[t], tvb(v, 4))
		elseif list_attrs[t] and l % 4 == 0 then
			for i = 0, l / 4 - 1 do at:add(af[t], tvb(v + 4 * i, 4)) end
		elseif u8_attrs[t] and l == 1 then at:add(af[t], tvb(v, 1))
		elseif (t == 32 or t == 33) and l == 6 then at:add(g.addr4, tvb(v, 4)); at:add(g.addr_port, tvb(v + 4, 2))
		elseif (t == 34 or t == 35) and l == 18 then at:add(g.addr6, tvb(v, 16)); at:add(g.addr_port, tvb(v + 16, 2))
		elseif t == 40 and l == 8 then
			at:add(g.spi, tvb(v, 4)); at:add(g.auth_bits, tvb(v + 4, 2)); at:add(g.enc_bits, tvb(v + 6, 2))
		elseif l > 0 then at:add(g.attr_value, tvb(v, l)) end
		off = off + 4 + l
	end
	return true
end

local function omp_message(tvb, tree, pinfo)
	local t = tvb(1, 1):uint()
	tree:add(g.version, tvb(0, 1))
	tree:add(g.type, tvb(1, 1))
	tree:add(g.length, tvb(2, 2))
	local n = tvb:len()
	if tvb(0, 1):uint() ~= 1 then
		if n > 4 then tree:add(g.body, tvb(4)) end
		return true
	end
	if t == 2 and n >= 27 then
		tree:add(g.hs_system_ip, tvb(4, 4)); tree:add(g.hs_site_id, tvb(8, 4)); tree:add(g.hs_domain_id, tvb(12, 4))
		tree:add(g.hs_overlay_id, tvb(16, 4)); tree:add(g.hs_hold, tvb(20, 2)); tree:add(g.hs_device, tvb(22, 1))
		tree:add(g.hs_flags, tvb(23, 1)); tree:add(g.hs_gr, tvb(24, 4))
	elseif t == 3 then
		if n < 7 then return false end
		local fam = tvb(4, 1):uint()
		tree:add(g.family, tvb(4, 1))
		local wl = tvb(5, 2):uint()
		if 7 + wl + 2 > n then return false end
		if not nlri(tvb, tree, fam, 7, wl, true) then return false end
		local al = tvb(7 + wl, 2):uint()
		local ao = 9 + wl
		if ao + al > n then return false end
		if not attrs(tvb, tree, ao, al) then return false end
		if not nlri(tvb, tree, fam, ao + al, n - ao - al, false) then return false end
	elseif t == 4 and n >= 6 then
		tree:add(g.alert_code, tvb(4, 1)); tree:add(g.alert_subcode, tvb(5, 1))
	elseif t == 5 and n >= 5 then
		tree:add(g.inform_kind, tvb(4, 1))
		local k = tvb(4, 1):uint()
		if (k == 1 or k == 2) and n >= 6 then tree:add(g.inform_family, tvb(5, 1)) end
	elseif n > 4 and t ~= 1 then
		tree:add(g.body, tvb(4))
	end
	return true
end

-- om.dissector dissects the OMP messages of a DATA payload.
function om.dissector(tvb, pinfo, tree)
	local off, n, names = 0, tvb:len(), {}
	while off < n do
		if off + 4 > n then
			tree:add_proto_expert_info(ef.omp_malformed, "truncated OMP header")
			return
		end
		local l = tvb(off + 2, 2):uint()
		if l < 4 or off + l > n then
			local t = tree:add(om, tvb(off), "OMP (malformed)")
			t:add_proto_expert_info(ef.omp_malformed, "OMP length " .. l .. " does not fit")
			return
		end
		local ty = tvb(off + 1, 1):uint()
		local mt = tree:add(om, tvb(off, l), "OMP " .. (omp_types[ty] or ("TYPE-" .. ty)))
		if not omp_message(tvb(off, l):tvb(), mt, pinfo) then
			mt:add_proto_expert_info(ef.omp_malformed)
		end
		names[#names + 1] = omp_types[ty] or ("TYPE-" .. ty)
		off = off + l
	end
	if #names > 0 then pinfo.cols.info:append(" " .. table.concat(names, ",")) end
end

function vd.dissector(tvb, pinfo, tree)
	local n = tvb:len()
	if n < 12 then return 0 end
	pinfo.cols.protocol = "vdaemon"
	local ty = bit.band(tvb(0, 1):uint(), 0x0F)
	local dev = bit.rshift(tvb(1, 1):uint(), 4)
	local t = tree:add(vd, tvb(), "vdaemon " .. (msg_types[ty] or ("TYPE-" .. ty)) .. " from " .. (devices[dev] or ("device-" .. dev)))
	t:add(f.version, tvb(0, 1)); t:add(f.type, tvb(0, 1)); t:add(f.device_type, tvb(1, 1))
	if bit.band(tvb(1, 1):uint(), 0x0F) ~= 0 then t:add(f.device_low, tvb(1, 1)) end
	t:add(f.flags, tvb(2, 1)); t:add(f.reserved, tvb(3, 1))
	t:add(f.domain_id, tvb(4, 4)); t:add(f.site_id, tvb(8, 4))
	pinfo.cols.info = "vdaemon " .. (msg_types[ty] or ("TYPE-" .. ty)) .. " " .. (devices[dev] or ("device-" .. dev))
	local b, off, ok = 12, nil, true
	if ty == 8 then
		if n < b + 256 then ok = false else
			t:add(f.challenge, tvb(b, 256)); off = tlvs(tvb, t, b + 256); ok = off ~= nil
		end
	elseif ty == 9 then
		if n < b + 2 then ok = false else
			t:add(f.verified, tvb(b, 1)); t:add(f.hwflag, tvb(b + 1, 1)); off = tlvs(tvb, t, b + 2); ok = off ~= nil
		end
	elseif ty == 10 then
		if n < b + 2 then ok = false else t:add(f.verify, tvb(b, 1)); off = b + 2 end
	elseif ty == 5 then
		if n < b + 6 then ok = false else
			local fam = tvb(b + 4, 2):uint()
			local al = (fam == 2 and 4) or (fam == 10 and 16) or nil
			if not al or n < b + 6 + al + 2 + 4 + 20 + 8 then ok = false else
				t:add(f.hello_dummy, tvb(b, 4)); t:add(f.hello_family, tvb(b + 4, 2))
				if al == 4 then t:add(f.hello_addr, tvb(b + 6, 4)) else t:add(f.hello_addr6, tvb(b + 6, 16)) end
				local p = b + 6 + al
				t:add(f.hello_port, tvb(p, 2)); t:add(f.hello_color, tvb(p + 2, 4))
				t:add(f.hello_interval, tvb(p + 26, 4)); t:add(f.hello_tolerance, tvb(p + 30, 4))
				off = tlvs(tvb, t, p + 34); ok = off ~= nil
			end
		end
	elseif ty == 11 then
		if n < b + 1 then ok = false else t:add(f.error, tvb(b, 1)); off = tlvs(tvb, t, b + 1); ok = off ~= nil end
	elseif ty == 14 then
		if n > b then
			local l = math.min(768, n - b)
			t:add(f.keys_text, tvb(b, l))
			if n > b + 768 then off = tlvs(tvb, t, b + 768) end
		end
	elseif ty == 7 then
		if n > b then om.dissector(tvb(b):tvb(), pinfo, t) end
	elseif n > b then
		t:add(f.raw, tvb(b))
	end
	if not ok then
		t:add_proto_expert_info(ef.malformed)
	else
		extra(tvb, t, off)
	end
	return n
end

-- The ports ompscope dissects by default (dissect.ControllerDTLSPorts and
-- dissect.DefaultTLSPort; TestLuaPorts keeps this in step).
-- BEGIN PORTS
local DTLS_FIRST, DTLS_LAST, TLS_PORT = 12346, 13145, 23456
-- END PORTS
local dtls = DissectorTable.get("dtls.port")
for p = DTLS_FIRST, DTLS_LAST do dtls:add(p, vd) end
DissectorTable.get("tls.port"):add(TLS_PORT, vd)

-- the exported PDUs of `ompscope dissect --export-decrypted` name the
-- dissector "ompscope"
local ex = Proto("ompscope", "ompscope decrypted export")
function ex.dissector(tvb, pinfo, tree) return vd.dissector(tvb, pinfo, tree) end
