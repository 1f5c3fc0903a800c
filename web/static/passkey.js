/* The representative's passkey: registering one (account/passkeys.html) and signing a
   decision with it (cases/sign.html). The only script of fpic: every other page works
   without JavaScript. A button marked data-passkey="register" or "sign" carries the WebAuthn
   options the server made (JSON, bytes in base64url) in data-options; the browser asks the
   phone or security key, and the answer (PublicKeyCredential as JSON, bytes in base64url)
   goes into the form's field data-field, which is then sent. The server checks everything. */
(function () {
  "use strict";

  function bytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) {
      base64 += "=";
    }
    var raw = atob(base64);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i += 1) {
      out[i] = raw.charCodeAt(i);
    }
    return out.buffer;
  }

  function text(buffer) {
    var view = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < view.length; i += 1) {
      raw += String.fromCharCode(view[i]);
    }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map(function (descriptor) {
      return Object.assign({}, descriptor, { id: bytes(descriptor.id) });
    });
  }

  function creation(options) {
    var user = Object.assign({}, options.user, { id: bytes(options.user.id) });
    return Object.assign({}, options, {
      challenge: bytes(options.challenge),
      user: user,
      excludeCredentials: withIds(options.excludeCredentials),
    });
  }

  function request(options) {
    return Object.assign({}, options, {
      challenge: bytes(options.challenge),
      allowCredentials: withIds(options.allowCredentials),
    });
  }

  function common(credential) {
    return {
      id: credential.id,
      rawId: text(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
    };
  }

  function registered(credential) {
    var answer = common(credential);
    var response = credential.response;
    answer.response = {
      clientDataJSON: text(response.clientDataJSON),
      attestationObject: text(response.attestationObject),
      transports: response.getTransports ? response.getTransports() : [],
    };
    return answer;
  }

  function signed(credential) {
    var answer = common(credential);
    var response = credential.response;
    answer.response = {
      clientDataJSON: text(response.clientDataJSON),
      authenticatorData: text(response.authenticatorData),
      signature: text(response.signature),
      userHandle: response.userHandle ? text(response.userHandle) : null,
    };
    return answer;
  }

  var CEREMONIES = {
    register: function (options) {
      return navigator.credentials.create({ publicKey: creation(options) }).then(registered);
    },
    sign: function (options) {
      return navigator.credentials.get({ publicKey: request(options) }).then(signed);
    },
  };

  function wire(button) {
    var ceremony = CEREMONIES[button.dataset.passkey];
    var form = button.form;
    var status = document.getElementById(button.dataset.status);
    function say(key) {
      if (status) {
        status.textContent = button.dataset[key] || "";
      }
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      var required = button.dataset.require && form.elements[button.dataset.require];
      if (required && !required.value.trim()) {
        say("missing");
        required.focus();
        return;
      }
      button.disabled = true;
      say("working");
      ceremony(JSON.parse(button.dataset.options)).then(
        function (answer) {
          form.elements[button.dataset.field].value = JSON.stringify(answer);
          form.submit();
        },
        function (error) {
          button.disabled = false;
          say(error && error.name === "NotAllowedError" ? "cancelled" : "failed");
        }
      );
    });
  }

  function start() {
    var buttons = document.querySelectorAll("button[data-passkey]");
    if (!window.PublicKeyCredential || !navigator.credentials) {
      document.querySelectorAll("[data-passkey-unsupported]").forEach(function (note) {
        note.hidden = false;
      });
      return;
    }
    buttons.forEach(wire);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
