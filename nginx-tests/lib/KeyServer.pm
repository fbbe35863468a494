package KeyServer;

# The issuer's key server for the opay_jwks_url tests: a real HTTPS server
# process on loopback, with a test CA and certificates made by the openssl
# command. What it serves is read from files in the test directory at each
# request, so a test changes the document, the status or the delay
# between requests: keys-NAME.json (the body), keys-NAME.status (default
# 200), keys-NAME.sleep (seconds before answering). Each request is logged
# like OpayTest's backends, to backend-NAME.log.

use strict;
use warnings;

use IO::Socket::INET;
use IO::Socket::SSL;
use POSIX ();

use OpayTest;

# Makes DIR/NAME.key and DIR/NAME.crt signed by CA (DIR/CA.key, .crt), for
# the subjectAltName given; a CA is made first when missing.
sub make_cert {
    my ($dir, $ca, $name, $san) = @_;
    my $q = "2>/dev/null";
    if (!-f "$dir/$ca.crt") {
        system("openssl req -x509 -newkey rsa:2048 -nodes -days 2"
            . " -keyout $dir/$ca.key -out $dir/$ca.crt"
            . " -subj '/CN=opay test CA $ca' $q") == 0 or die "openssl CA";
    }
    system("openssl req -newkey rsa:2048 -nodes -keyout $dir/$name.key"
        . " -out $dir/$name.csr -subj '/CN=$name' $q") == 0
        or die "openssl csr";
    open my $ext, '>', "$dir/$name.ext" or die;
    print $ext "subjectAltName=$san\n";
    close $ext;
    system("openssl x509 -req -in $dir/$name.csr -CA $dir/$ca.crt"
        . " -CAkey $dir/$ca.key -CAcreateserial -days 2"
        . " -extfile $dir/$name.ext -out $dir/$name.crt $q") == 0
        or die "openssl sign";
    chmod 0644, "$dir/$name.key", "$dir/$name.crt", "$dir/$ca.crt";
}

# Starts the server NAME on port('NAME') of test T with certificate CERT
# (DIR/CERT.crt and .key). Returns the child's pid (killed by T->stop).
sub start {
    my ($t, $name, $cert) = @_;
    my $dir = $t->dir;
    return $t->server($name, sub {
        my ($server) = @_;
        $SIG{CHLD} = 'IGNORE';
        while (1) {
            my $c = $server->accept or next;
            my $kid = fork;
            if (defined $kid && $kid == 0) {
                IO::Socket::SSL->start_SSL($c, SSL_server => 1,
                    SSL_cert_file => "$dir/$cert.crt",
                    SSL_key_file => "$dir/$cert.key")
                    or POSIX::_exit(0);
                OpayTest::serve_one($c, sub { answer($dir, $name, @_) },
                                    "$dir/backend-$name.log");
                POSIX::_exit(0);
            }
            close $c;
        }
    }, stderr => "$dir/keyserver-$name.err");
}

# Stops the server NAME started by start() (the issuer goes down).
sub stop {
    my ($t, $pid) = @_;
    kill 'KILL', -$pid;
    waitpid($pid, 0);
    $t->{children} = [ grep { $_ != $pid } @{ $t->{children} } ];
}

# keys-NAME.meta answers a path naming openid-configuration.
sub answer {
    my ($dir, $name, $req) = @_;
    my $read = sub {
        open my $fh, '<', "$dir/keys-$name.$_[0]" or return undef;
        local $/;
        return scalar <$fh>;
    };
    my $sleep = $read->('sleep');
    sleep $sleep if $sleep;
    my $status = $read->('status') // 200;
    my $body = $read->($req->{path} =~ /openid-configuration/ ? 'meta'
                                                               : 'json') // '';
    return [ $status + 0, { 'Content-Type' => 'application/json' }, $body ];
}

1;
